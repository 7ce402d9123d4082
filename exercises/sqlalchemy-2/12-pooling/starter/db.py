"""Database wiring for DocChat: one engine (and its pool) per process, a session factory.

Lesson section 12, "Connection pooling & engine lifecycle". This is the engine of
exercise 03: it works on your laptop. In production, on a managed Postgres such as
Neon or Supabase, it has two problems:

- the provider closes connections that sit idle, and this pool never finds out:
  the next request borrows a dead connection and fails;
- its pool size is whatever the defaults happen to be, not a decision you wrote down.

Size the pool for DocChat's load, explicitly:

- 5 sessions are busy at once on an ordinary day,
- up to 15 run at the same moment at the busiest (and no more should connect),
- a connection the provider closed must never reach a request.

The URL still comes from the DATABASE_URL environment variable.
"""

import os

from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

# TODO: configure the pool (three keyword arguments of create_engine).
engine = create_engine(os.environ["DATABASE_URL"])

SessionLocal = sessionmaker(bind=engine)
