"""FastAPI dependencies for DocChat: one database session per request."""

from collections.abc import Iterator

from sqlalchemy.orm import Session

from db import SessionLocal


def get_db() -> Iterator[Session]:
    """Yield a new session from ``SessionLocal``."""
    yield SessionLocal()
