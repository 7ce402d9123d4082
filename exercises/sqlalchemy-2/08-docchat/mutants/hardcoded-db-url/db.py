"""Database wiring for DocChat."""

from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

engine = create_engine("postgresql+psycopg://docchat:docchat@localhost:5432/docchat")
SessionLocal = sessionmaker(bind=engine)
