"""FastAPI dependencies for DocChat: the class itself as the dependency (wrong: nothing closes it)."""

from sqlalchemy.orm import Session

from db import SessionLocal


class get_db:  # noqa: N801 - used as Depends(get_db)
    """FastAPI calls the class and injects the instance: the session is opened, never closed."""

    def __new__(cls) -> Session:
        return SessionLocal()
