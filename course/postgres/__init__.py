"""Throwaway PostgreSQL servers: pick a backend, start (or reuse) a server, hand out fresh databases.

Backends are chosen in the order README gives unless the user picks one: ``url`` when a database URL is
given, ``docker`` when a Docker daemon answers, ``embedded`` otherwise. Nothing here imports
SQLAlchemy: the runner only needs psycopg to create and drop databases.
"""

from course.postgres.base import BackendError, ConnectionParams, PostgresServer
from course.postgres.choose import Choice, choose_backend, open_server

__all__ = [
    "BackendError",
    "Choice",
    "ConnectionParams",
    "PostgresServer",
    "choose_backend",
    "open_server",
]
