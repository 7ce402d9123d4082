"""FastAPI dependencies for DocChat: one database session per request."""

from sqlalchemy.orm import Session

from db import SessionLocal


def get_db() -> Session:
    """Return a new session for the request."""
    return SessionLocal()
