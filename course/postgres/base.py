"""What every backend provides: connection parameters for an admin and a learner role."""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote

from course.errors import CourseError

LEARNER_ROLE = "course_learner"
DATABASE_PREFIX = "course_"


class BackendError(CourseError):
    """A server could not be obtained or used. ``str()`` is one line: the cause and the fix."""


@dataclass(frozen=True)
class ConnectionParams:
    """Where and as whom to connect. ``host`` may be a unix-socket directory."""

    host: str
    port: int
    user: str
    password: str | None = None
    dbname: str = "postgres"

    def with_db(self, dbname: str) -> ConnectionParams:
        return dataclasses.replace(self, dbname=dbname)

    def as_user(self, user: str, password: str | None) -> ConnectionParams:
        return dataclasses.replace(self, user=user, password=password)

    def conninfo(self) -> str:
        """A libpq keyword/value string for psycopg."""
        parts = {"host": self.host, "port": str(self.port), "user": self.user, "dbname": self.dbname}
        if self.password:
            parts["password"] = self.password
        return " ".join(f"{key}='{_escape(value)}'" for key, value in parts.items())

    def sqlalchemy_url(self) -> str:
        """A ``postgresql+psycopg://`` URL; a socket directory travels as the ``host`` query arg."""
        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        if self.host.startswith("/"):
            return f"postgresql+psycopg://{auth}@/{self.dbname}?host={quote(self.host, safe='/')}&port={self.port}"
        return f"postgresql+psycopg://{auth}@{self.host}:{self.port}/{self.dbname}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def new_password() -> str:
    return secrets.token_urlsafe(18)


class PostgresServer(Protocol):
    """A running server the runner may create databases in."""

    backend: str
    """``embedded``, ``docker`` or ``url``."""
    admin: ConnectionParams
    """A role that can create databases and roles (a superuser on embedded and docker)."""
    learner: ConnectionParams
    """The role learner code connects as: no superuser, owner of each fresh database."""

    def describe(self) -> str:
        """One line for ``course doctor`` and the TUI status bar."""
        ...

    def close(self) -> None:
        """Release the server: stop it if this process started it, else leave it running."""
        ...
