"""Database wiring for DocChat: make_url() for the URL, try/finally to close the session."""

from os import environ

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from models import User

url = make_url(environ["DATABASE_URL"])
engine = create_engine(url, echo=False)
SessionLocal: sessionmaker[Session] = sessionmaker(bind=engine, class_=Session)


def add_user(email: str, name: str | None = None) -> int:
    session = SessionLocal()
    try:
        user = User(email=email, name=name)
        session.add(user)
        session.commit()
        session.refresh(user)
        return int(user.id)
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()
