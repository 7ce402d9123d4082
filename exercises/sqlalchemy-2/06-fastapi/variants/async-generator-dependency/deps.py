"""FastAPI dependencies for DocChat: one database session per request."""

from collections.abc import AsyncIterator

from sqlalchemy.orm import Session

from db import SessionLocal


async def get_db() -> AsyncIterator[Session]:
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()
