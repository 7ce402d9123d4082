"""`session.close` without parentheses in the finally block: nothing is closed."""

import os

from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from models import User

engine = create_engine(os.environ["DATABASE_URL"])
SessionLocal = sessionmaker(bind=engine)


def add_user(email: str, name: str | None = None) -> int:
    session = SessionLocal()
    try:
        user = User(email=email, name=name)
        session.add(user)
        session.commit()
        session.refresh(user)
        return user.id
    finally:
        session.close
