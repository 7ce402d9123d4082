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
import threading

from course import locations
from course.postgres.base import DATABASE_PREFIX, BackendError, ConnectionParams, PostgresServer, new_password
from course.postgres.embedded import process_alive


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

    def __init__(self, server: PostgresServer, *, isolate: bool = False):
        """``isolate``: every database gets a role of its own (``course grade``), so code graded
        in one database cannot connect to another one (needs password auth on the server)."""
        self.server = server
        self.id = secrets.token_hex(4)
        self.role = f"{DATABASE_PREFIX}{self.id}"
        self.isolate = isolate
        self._counter = itertools.count(1)
        self._databases: set[str] = set()
        self._owners: dict[str, ConnectionParams] = {}
        self._lock = threading.Lock()  # one admin connection, shared by grading threads
        self._admin = _connect(server.admin)
        self._registry = locations.state_dir() / "sessions" / self.id
        self._registry.parent.mkdir(parents=True, exist_ok=True)
        self._registry.write_text(str(os.getpid()))
        self._reap_dead_sessions()
        self.learner = self._create_role()

    # -- roles -----------------------------------------------------------------------------

    def _create_role(self, name: str | None = None) -> ConnectionParams:
        role = name or self.role
        password = new_password()
        try:
            self._admin.execute(
                f"CREATE ROLE {_quote(role)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                f"PASSWORD '{password}'"
            )
        except Exception:
            # A url server whose user may not create roles: learner code then runs as that user.
            if name is None:
                self.role = None
            return self.server.admin
        return self.server.admin.as_user(role, password)

    def server_version(self) -> str:
        return self._admin.execute("SHOW server_version").fetchone()[0]

    # -- databases -------------------------------------------------------------------------

    def create_database(self) -> str:
        """A new empty database owned by the learner role; only it (and admins) may connect.

        If the server died (killed, crashed), a server this session started is started again.
        """
        import psycopg

        try:
            return self._create_database()
        except (psycopg.OperationalError, psycopg.InterfaceError):
            self._recover()
            return self._create_database()

    def _recover(self) -> None:
        """Reconnect, restarting the embedded server if it was ours and is gone."""
        from course.postgres import embedded

        with self._lock:
            with contextlib.suppress(Exception):
                self._admin.close()
            server = self.server
            if isinstance(server, embedded.EmbeddedServer) and server.owned and server.pid() is None:
                server.close()
                self.server = embedded.start(persistent=False, secure=True)
            self._admin = _connect(self.server.admin)
            self._databases.clear()
            self._owners.clear()
            if self.role:
                with contextlib.suppress(Exception):
                    self._admin.execute(f"DROP ROLE IF EXISTS {_quote(self.role)}")
                self.learner = self._create_role()

    def _create_database(self) -> str:
        with self._lock:
            number = next(self._counter)
            name = f"{DATABASE_PREFIX}{self.id}_{number}"
            learner = self._create_role(f"{self.role}_{number}") if self.isolate and self.role else self.learner
            owner = f" OWNER {_quote(learner.user)}" if learner.user != self.server.admin.user else ""
            self._admin.execute(f"CREATE DATABASE {_quote(name)}{owner} TEMPLATE template0 ENCODING 'UTF8'")
            self._databases.add(name)
            self._owners[name] = learner
            self._admin.execute(f"REVOKE CONNECT, TEMPORARY ON DATABASE {_quote(name)} FROM PUBLIC")
        return name

    def drop_database(self, name: str) -> None:
        import psycopg

        if not name.startswith(DATABASE_PREFIX):
            raise ValueError(f"refusing to drop {name!r}: not a database this runner created")
        with self._lock:
            try:
                self._admin.execute(f"DROP DATABASE IF EXISTS {_quote(name)} WITH (FORCE)")
            except (psycopg.OperationalError, psycopg.InterfaceError):
                return  # the server is gone, and the database with it; the next create recovers
            self._databases.discard(name)
            owner = self._owners.pop(name, None)
            if owner is not None and owner.user not in (self.role, self.server.admin.user):
                self._admin.execute(f"DROP ROLE IF EXISTS {_quote(owner.user)}")

    def learner_params(self, database: str) -> ConnectionParams:
        return self._owners.get(database, self.learner).with_db(database)

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
            if entry.name != self.id and not process_alive(pid):
                dead.append(entry)
        for entry in dead:
            prefix = f"{DATABASE_PREFIX}{entry.name}"
            pattern = prefix + r"\_%"
            with contextlib.suppress(Exception):
                for (name,) in self._admin.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (pattern,)):
                    self._admin.execute(f"DROP DATABASE IF EXISTS {_quote(name)} WITH (FORCE)")
                roles = self._admin.execute("SELECT rolname FROM pg_roles WHERE rolname = %s OR rolname LIKE %s", (prefix, pattern))
                for (role,) in roles.fetchall():
                    self._admin.execute(f"DROP ROLE IF EXISTS {_quote(role)}")
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


def open_session(backend: str | None = None, database_url: str | None = None, *, isolate: bool = False) -> DatabaseSession:
    """Choose a backend, start or reuse its server, and open a session on it.

    ``isolate`` (for grading many submissions): a role per database, and an embedded server of
    our own that requires passwords, so a submission cannot log in as another one's role.
    """
    from course.postgres.choose import choose_backend, open_server

    server = open_server(choose_backend(backend, database_url), secure=isolate)
    try:
        return DatabaseSession(server, isolate=isolate)
    except BaseException:
        server.close()
        raise


__all__ = ["DatabaseSession", "open_session"]
