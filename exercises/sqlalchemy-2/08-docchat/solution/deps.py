"""FastAPI dependencies for DocChat (the result of exercise 06-fastapi)."""

from collections.abc import Iterator

from sqlalchemy.orm import Session

from db import SessionLocal


def get_db() -> Iterator[Session]:
    """One session per request, closed when the request is over (even if the route raised)."""
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()
