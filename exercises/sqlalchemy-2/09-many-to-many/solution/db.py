"""Database connection - provided, complete (the engine and session factory of exercise 03).

You do not need to change this file. The grader runs its sessions on this ``engine``, so
the SQL your models make SQLAlchemy send is captured and shown to you.
"""

import os

from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

engine = create_engine(os.environ["DATABASE_URL"])
SessionLocal = sessionmaker(bind=engine)
