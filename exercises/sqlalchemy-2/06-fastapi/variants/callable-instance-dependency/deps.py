"""FastAPI dependencies for DocChat: one database session per request, from a callable instance."""

from collections.abc import Iterator

from sqlalchemy.orm import Session, sessionmaker

from db import SessionLocal


class SessionDependency:
    """A dependency FastAPI calls like a function: its ``__call__`` yields, so cleanup runs after the request."""

    def __init__(self, factory: sessionmaker):
        self.factory = factory

    def __call__(self) -> Iterator[Session]:
        db = self.factory()
        try:
            yield db
        finally:
            db.close()


get_db = SessionDependency(SessionLocal)
