"""Database wiring for DocChat: one engine (and its pool) per process, a session factory."""

import os

from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

engine = create_engine(
    os.environ["DATABASE_URL"],
    pool_size=5,          # connections kept open and reused in steady state
    max_overflow=10,      # extra connections allowed during a burst: at most 15 at once
    pool_pre_ping=True,   # test a pooled connection before lending it; replace it if dead
)

# Sessions borrow a connection from engine's pool at their first query and give it
# back when they close.
SessionLocal = sessionmaker(bind=engine)
