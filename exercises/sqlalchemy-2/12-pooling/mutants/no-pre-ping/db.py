"""Database wiring for DocChat: one engine (and its pool) per process, a session factory."""

import os

from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

# pool sized, but no pre-ping: a connection the server closed is lent out as if alive
engine = create_engine(os.environ["DATABASE_URL"], pool_size=5, max_overflow=10)

SessionLocal = sessionmaker(bind=engine)
