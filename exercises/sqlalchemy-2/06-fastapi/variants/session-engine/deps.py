"""get_db opens a Session on the engine directly (no sessionmaker), with an Annotated alias."""

from collections.abc import Generator
from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session

from db import engine


def get_db() -> Generator[Session, None, None]:
    with Session(engine) as session:  # closed when the block ends, also when the route raised
        yield session


DbSession = Annotated[Session, Depends(get_db)]
