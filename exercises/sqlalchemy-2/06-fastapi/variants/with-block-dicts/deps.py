"""FastAPI dependencies for DocChat: one database session per request."""

from collections.abc import Generator

from sqlalchemy.orm import Session

from db import SessionLocal


def get_db() -> Generator[Session, None, None]:
    # leaving the with block closes the session, also when the route raised
    with SessionLocal() as db:
        yield db
