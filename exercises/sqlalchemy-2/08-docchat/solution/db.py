"""Database wiring for DocChat (the result of exercise 03-engine-session).

One engine per process, built from the DATABASE_URL environment variable, and a
session factory bound to it.
"""

import os

from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

engine = create_engine(os.environ["DATABASE_URL"])
SessionLocal = sessionmaker(bind=engine)
