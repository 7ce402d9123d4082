"""poolclass=QueuePool spelled out; sessions that keep their attributes after commit."""

from os import environ

from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

DATABASE_URL = environ["DATABASE_URL"]

engine = create_engine(
    DATABASE_URL,
    poolclass=QueuePool,
    pool_size=5,
    max_overflow=10,
    pool_pre_ping=True,
)

SessionLocal: sessionmaker[Session] = sessionmaker(engine, expire_on_commit=False)
