"""Database wiring for DocChat: one engine (and its pool) per process, a session factory."""

import os

from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

# "5 connections, no more": a burst of 15 sessions queues up behind the first 5
engine = create_engine(os.environ["DATABASE_URL"], pool_size=5, max_overflow=0, pool_pre_ping=True)

SessionLocal = sessionmaker(bind=engine)
