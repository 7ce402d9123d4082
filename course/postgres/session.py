"""One runner's use of a server: a learner role of its own and fresh databases, all cleaned up.

Names are ``course_<session>`` for the role and ``course_<session>_<n>`` for databases. Each
session leaves a file ``sessions/<session>`` holding its pid in the state directory, so that a
later run can drop what a crashed one left behind on a shared (``url``) or persistent server.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
from pathlib import Path

from course import locations
from course.postgres.base import DATABASE_PREFIX, BackendError, ConnectionParams, PostgresServer, new_password


def _connect(params: ConnectionParams):
    import psycopg

    try:
        return psycopg.connect(params.conninfo(), autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as error:
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        raise BackendError(
            f"cannot connect to Postgres at {params.host}:{params.port} as {params.user}: {reason}; "
            "fix: check the server is running (`course db status`) and the URL is right"
        ) from None


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


class DatabaseSession:
    """Creates and drops throwaway databases on ``server`` for one runner process."""

    def __init__(self, server: PostgresServer):
        self.server = server
        self.id = secrets.token_hex(4)
        self.role = f"{DATABASE_PREFIX}{self.id}"
        self._counter = itertools.count(1)
        self._databases: set[str] = set()
        self._admin = _connect(server.admin)
        self._registry = locations.state_dir() / "sessions" / self.id
        self._registry.parent.mkdir(parents=True, exist_ok=True)
        self._registry.write_text(str(os.getpid()))
        self._reap_dead_sessions()
        self.learner = self._create_role()

    # -- roles -----------------------------------------------------------------------------

    def _create_role(self) -> ConnectionParams:
        password = new_password()
        try:
            self._admin.execute(
                f"CREATE ROLE {_quote(self.role)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                f"PASSWORD '{password}'"
            )
        except Exception:
            # A url server whose user may not create roles: learner code then runs as that user.
            self.role = None
            return self.server.admin
        return self.server.admin.as_user(self.role, password)

    def server_version(self) -> str:
        return self._admin.execute("SHOW server_version").fetchone()[0]

    # -- databases -------------------------------------------------------------------------

    def create_database(self) -> str:
        """A new empty database owned by the learner role; only it (and admins) may connect."""
        name = f"{DATABASE_PREFIX}{self.id}_{next(self._counter)}"
        owner = f" OWNER {_quote(self.role)}" if self.role else ""
        self._admin.execute(f"CREATE DATABASE {_quote(name)}{owner} TEMPLATE template0 ENCODING 'UTF8'")
        self._databases.add(name)
        self._admin.execute(f"REVOKE CONNECT, TEMPORARY ON DATABASE {_quote(name)} FROM PUBLIC")
        return name

    def drop_database(self, name: str) -> None:
        if not name.startswith(DATABASE_PREFIX):
            raise ValueError(f"refusing to drop {name!r}: not a database this runner created")
        self._admin.execute(f"DROP DATABASE IF EXISTS {_quote(name)} WITH (FORCE)")
        self._databases.discard(name)

    def learner_params(self, database: str) -> ConnectionParams:
        return self.learner.with_db(database)

    def admin_params(self, database: str) -> ConnectionParams:
        return self.server.admin.with_db(database)

    # -- cleanup ---------------------------------------------------------------------------

    def _reap_dead_sessions(self) -> None:
        """Drop databases and roles of earlier sessions of this machine whose process is gone."""
        registry = self._registry.parent
        dead = []
        for entry in registry.iterdir():
            try:
                pid = int(entry.read_text())
            except (OSError, ValueError):
                continue
            if entry.name != self.id and not _pid_alive(pid):
                dead.append(entry)
        for entry in dead:
            prefix = f"{DATABASE_PREFIX}{entry.name}"
            rows = self._admin.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s", (prefix + r"\_%",)
            ).fetchall()
            with contextlib.suppress(Exception):
                for (name,) in rows:
                    self._admin.execute(f"DROP DATABASE IF EXISTS {_quote(name)} WITH (FORCE)")
                self._admin.execute(f"DROP ROLE IF EXISTS {_quote(prefix)}")
            entry.unlink(missing_ok=True)

    def close(self) -> None:
        """Drop every database and the role of this session, then release the server."""
        try:
            for name in list(self._databases):
                with contextlib.suppress(Exception):
                    self.drop_database(name)
            if self.role:
                with contextlib.suppress(Exception):
                    self._admin.execute(f"DROP ROLE IF EXISTS {_quote(self.role)}")
            with contextlib.suppress(Exception):
                self._admin.close()
        finally:
            self._registry.unlink(missing_ok=True)
            self.server.close()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def open_session(backend: str | None = None, database_url: str | None = None) -> DatabaseSession:
    """Choose a backend, start or reuse its server, and open a session on it."""
    from course.postgres.choose import choose_backend, open_server

    server = open_server(choose_backend(backend, database_url))
    try:
        return DatabaseSession(server)
    except BaseException:
        server.close()
        raise


__all__ = ["DatabaseSession", "open_session"]
