"""FastAPI dependencies for DocChat: an instance whose async ``__call__`` yields the session."""

from collections.abc import AsyncIterator

from sqlalchemy.orm import Session

from db import SessionLocal


class DbSession:
    async def __call__(self) -> AsyncIterator[Session]:
        session = SessionLocal()
        try:
            yield session
        finally:
            session.close()


get_db = DbSession()
