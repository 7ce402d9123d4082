"""Database wiring for DocChat: one engine (and its pool) per process, a session factory."""

from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

engine = create_engine(
    "postgresql+psycopg://docchat:secret@localhost:5432/docchat",
    pool_size=5,
    max_overflow=10,
    pool_pre_ping=True,
)

SessionLocal = sessionmaker(bind=engine)
