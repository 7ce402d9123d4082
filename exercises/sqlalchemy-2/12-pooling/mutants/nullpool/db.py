"""Database wiring for DocChat: one engine (and its pool) per process, a session factory."""

import os

from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import NullPool

# NullPool: every session connects from scratch and hangs up when it closes
engine = create_engine(os.environ["DATABASE_URL"], poolclass=NullPool, pool_pre_ping=True)

SessionLocal = sessionmaker(bind=engine)
