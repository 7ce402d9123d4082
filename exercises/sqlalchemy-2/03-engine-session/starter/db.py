"""Database wiring for DocChat: one engine, a session factory, and add_user().

Lesson section 3, "Engine & Session". Three things to build here:

1. ``engine`` - created once, from the URL in the ``DATABASE_URL`` environment
   variable (the grader sets it to a throwaway Postgres database).
2. ``SessionLocal`` - a ``sessionmaker`` bound to ``engine``.
3. ``add_user(email, name=None)`` - store a new ``User`` and return its id.

``models.py`` is provided; the grader creates the tables before calling add_user().
"""

import os

from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from models import User

# TODO: build the engine from the DATABASE_URL environment variable.
#       Never paste a connection string into the code.
engine = None

# TODO: a session factory bound to the engine.
SessionLocal = None


def add_user(email: str, name: str | None = None) -> int:
    """Insert a user, commit, and return the id Postgres gave it.

    The four moves of a session: add, commit, refresh, close. The session must be
    closed when this function returns (hint: a ``with`` block closes it for you).
    """
    # TODO
    raise NotImplementedError("add_user is not written yet")
