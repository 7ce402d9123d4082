"""The lesson's engine plus pool_recycle, pool_timeout and an application_name."""

import os

from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

engine = create_engine(
    os.environ["DATABASE_URL"],
    pool_size=5,
    max_overflow=10,
    pool_pre_ping=True,
    pool_recycle=300,          # retire connections before a 5-minute idle timeout hits them
    pool_timeout=10,
    connect_args={"application_name": "docchat"},
)

SessionLocal = sessionmaker(bind=engine, autoflush=False)
