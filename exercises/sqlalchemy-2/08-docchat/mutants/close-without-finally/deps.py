"""FastAPI dependencies for DocChat."""

from collections.abc import Iterator

from sqlalchemy.orm import Session

from db import SessionLocal


def get_db() -> Iterator[Session]:
    db = SessionLocal()
    yield db
    db.close()
