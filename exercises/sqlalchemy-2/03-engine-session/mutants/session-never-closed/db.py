"""Database wiring for DocChat: one engine, a session factory, and add_user()."""

import os

from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from models import User

# The engine is created once, from the environment - never from a literal URL.
engine = create_engine(os.environ["DATABASE_URL"])

# A factory: every call SessionLocal() gives a new, short-lived Session.
SessionLocal = sessionmaker(bind=engine)


def add_user(email: str, name: str | None = None) -> int:
    """Insert a user, commit, and return the id Postgres gave it."""
    session = SessionLocal()
    user = User(email=email, name=name)
    session.add(user)
    session.commit()
    session.refresh(user)
    return user.id
