"""os.getenv with an explicit error, and a LIFO pool (the most recently used connection first)."""

import os

from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

url = os.getenv("DATABASE_URL")
if not url:
    raise RuntimeError("set DATABASE_URL to your Postgres URL")

engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, pool_use_lifo=True)
SessionLocal = sessionmaker(class_=Session, bind=engine, autoflush=False)
