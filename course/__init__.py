"""`course`: a terminal course runner for SQLAlchemy 2.0, Alembic and FastAPI persistence."""

__version__ = "0.1.0"
