"""The pool settings kept in one dict and unpacked into create_engine()."""

import os

from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

POOL_SETTINGS = {
    "pool_size": 5,
    "max_overflow": 10,
    "pool_pre_ping": True,
}

engine = create_engine(os.environ["DATABASE_URL"], **POOL_SETTINGS)
SessionLocal = sessionmaker(engine)
