"""FastAPI dependencies for DocChat: one database session per request."""

from collections.abc import Iterator

from sqlalchemy.orm import Session

from db import SessionLocal

db = SessionLocal()  # created once, at import


def get_db() -> Iterator[Session]:
    """Yield the session and close it in ``finally``."""
    try:
        yield db
    finally:
        db.close()
