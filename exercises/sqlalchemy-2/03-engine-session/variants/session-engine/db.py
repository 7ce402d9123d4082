"""Database wiring for DocChat: add_user opens Session(engine) directly."""

import os

from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

from models import User

engine = create_engine(os.environ["DATABASE_URL"])
SessionLocal = sessionmaker(bind=engine)


def add_user(email: str, name: str | None = None) -> int:
    with Session(engine) as session:
        user = User(email=email, name=name)
        session.add(user)
        session.commit()
        return user.id  # expired by the commit; reading it reloads the row
