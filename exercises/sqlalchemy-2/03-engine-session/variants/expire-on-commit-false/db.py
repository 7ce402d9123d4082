"""Database wiring for DocChat: expire_on_commit=False, so the id survives the commit."""

import os

from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from models import User

engine = create_engine(os.environ["DATABASE_URL"], pool_pre_ping=True)
SessionLocal = sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)


def add_user(email: str, name: str | None = None) -> int:
    user = User(email=email, name=name)
    with SessionLocal() as session, session.begin():
        session.add(user)
    # The block committed and closed the session; the object was not expired,
    # so the id Postgres returned from the INSERT is still on it.
    return user.id
