"""Database wiring for DocChat: one engine (and its pool) per process, a session factory."""

import os

from sqlalchemy import create_engine
from sqlalchemy.orm import Session


def make_engine():
    return create_engine(os.environ["DATABASE_URL"], pool_size=5, max_overflow=10, pool_pre_ping=True)


engine = make_engine()


def SessionLocal() -> Session:
    # a new engine - and so a new, empty pool - for every session
    return Session(make_engine())
