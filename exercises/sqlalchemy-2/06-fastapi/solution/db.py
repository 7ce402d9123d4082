"""Database wiring for DocChat - provided, complete (the result of exercise 03-engine-session).

You do not need to change this file. ``deps.py`` imports ``SessionLocal`` from here.
"""

import os

from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

# One engine per process, from the environment (the grader points it at a throwaway database).
engine = create_engine(os.environ["DATABASE_URL"])

# A factory: every call SessionLocal() gives a new, short-lived Session.
SessionLocal = sessionmaker(bind=engine)
