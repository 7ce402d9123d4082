"""Database wiring for DocChat: a SessionLocal.begin() block commits on exit."""

import os

from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from models import User

engine = create_engine(os.environ["DATABASE_URL"])
SessionLocal = sessionmaker(bind=engine)


def add_user(email: str, name: str | None = None) -> int:
    # begin() opens a session *and* a transaction; leaving the block commits and closes.
    with SessionLocal.begin() as session:
        user = User(email=email, name=name)
        session.add(user)
        session.flush()  # INSERT now, so Postgres assigns the id
        return user.id
