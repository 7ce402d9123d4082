"""Database wiring for DocChat: the URL read with os.getenv, sessionmaker as a positional bind."""

import os

from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from models import User

DATABASE_URL = os.getenv("DATABASE_URL")
if not DATABASE_URL:
    raise RuntimeError("DATABASE_URL is not set")

engine = create_engine(DATABASE_URL)
SessionLocal = sessionmaker(engine)


def add_user(email: str, name: str | None = None) -> int:
    user = User(email=email, name=name)
    with SessionLocal() as session:
        session.add(user)
        session.commit()
        session.refresh(user)
        new_id = user.id
    return new_id
