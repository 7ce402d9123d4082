"""One runner's use of a server: a learner role of its own and fresh databases, all cleaned up.

Names are ``course_<session>`` for the role and ``course_<session>_<n>`` for databases. Each
session leaves a file ``sessions/<session>`` holding its pid in the state directory, so that a
later run can drop what a crashed one left behind on a shared (``url``) or persistent server.

``CREATE DATABASE`` and ``DROP DATABASE`` cost tens of milliseconds each, so neither sits on the
path of a check: a background thread keeps a few empty databases ready (:attr:`DatabaseSession.spares`)
and drops used ones after the check has reported.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import secrets
import threading
from collections import deque

from checker.process import platform, sandbox
from course import locations
from course.postgres.base import DATABASE_PREFIX, BackendError, ConnectionParams, PostgresServer, new_password
from course.postgres.embedded import process_alive


def _connect(params: ConnectionParams):
    import psycopg

    try:
        conn = psycopg.connect(params.conninfo(), autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as error:
        raise BackendError(
            f"cannot connect to Postgres at {params.host}:{params.port} as {params.user}: {connect_failure(error)}; "
            "fix: check that a server runs at that host and port and that the URL's user, password and database "
            "are right (--database-url or COURSE_DATABASE_URL)"
        ) from None
    # The session's roles get random 144-bit passwords that live as long as the session: key
    # stretching guards weak passwords, so one SCRAM iteration is as safe here and saves ~3 ms per
    # connection, on both sides (servers before PostgreSQL 16 lack the setting: nothing changes there).
    with contextlib.suppress(psycopg.Error):
        conn.execute("SET scram_iterations = 1")
    return conn


def connect_failure(error: Exception) -> str:
    """The driver's reason, on one line: ``Connection refused``, ``password authentication failed
    for user "u"``... (psycopg's message is ``connection failed: connection to server at "h",
    port 1 failed: Connection refused`` and a tab-indented second line of advice)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    reason = lines[0].rpartition(" failed: ")[2] or lines[0]
    advice = " ".join(lines[1:])
    return f"{reason} ({advice.rstrip('?.')}?)" if advice.endswith("?") else reason


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


ROLE_CONNECTIONS = 64
"""Connections one learner role may hold at once (a pool of 15 and the grader's own fit)."""
ROLE_SETTINGS = {
    "statement_timeout": "60s",
    "idle_in_transaction_session_timeout": "120s",
    "temp_file_limit": "512MB",  # only a superuser may change it: learner code cannot lift it
    "log_statement": "all",  # what Postgres received, for the grader's judge (checker.judge.serverlog); superuser-only too
}
"""Defaults of every learner role: no statement or forgotten transaction holds the server long."""
STATEMENT_LOG_SETTINGS = frozenset({"log_statement"})
JUDGE_SUFFIX = "_judge"
"""A learner role's judge role is named after it with this suffix (see ``DatabaseSession._create_judge_role``)."""
JUDGE_CONNECTIONS = ROLE_CONNECTIONS
"""Connections the judges of one learner role may hold at once: a session's runs share its role
(``check --all``, the service), each judge a pool of up to 10."""
"""Role settings only for a server whose statement log the judge reads (the embedded one)."""
DATABASE_SIZE_LIMIT = 256 << 20
"""Bytes one submission's database may grow to (servers often live in RAM): past it, the run ends."""
LOCK_LIMIT = 2000
"""Locks one submission's database may hold at once (advisory locks included): past it, the run
ends before the server's shared lock table is full for everyone."""


class DatabaseSession:
    """Creates and drops throwaway databases on ``server`` for one runner process."""

    def __init__(self, server: PostgresServer, *, isolate: bool = False, spares: int = 1):
        """``isolate``: every database gets a role of its own (``course grade``), so code graded
        in one database cannot connect to another one (needs password auth on the server).
        ``spares``: empty databases kept ready by a background thread (0: create on demand)."""
        sandbox.harden()  # this process holds the superuser's password: not readable by learner code
        self.server = server
        self.id = secrets.token_hex(4)
        self.role: str | None = f"{DATABASE_PREFIX}{self.id}"  # None: the server may not create roles
        self.isolate = isolate
        self.spares = spares
        self._counter = itertools.count(1)
        self._owners: dict[str, ConnectionParams] = {}  # every database of this session, and its role
        self._judges: dict[str, ConnectionParams] = {}  # by learner role: its judge's role
        self._lock = threading.Lock()  # the admin connection, shared by grading threads
        self._admin = _connect(server.admin)
        # FILE_COPY (PostgreSQL 15+): a plain copy of template0's files, faster than WAL-logging them
        self._strategy = " STRATEGY FILE_COPY" if self._admin.info.server_version >= 150000 else ""
        self._registry = locations.state_dir() / "sessions" / self.id
        self._registry.parent.mkdir(parents=True, exist_ok=True)
        self._registry.write_text(str(os.getpid()), encoding="utf-8")
        self._reap_dead_sessions()
        self.learner = self._create_role()
        # background work: spares to create, used databases to drop
        self._ready: deque[str] = deque()
        self._to_drop: deque[str] = deque()
        self._busy = False
        self._stalled = False  # the server failed the background thread: until _recover
        self._generation = 0  # bumped when the server is replaced: spares of the old one are void
        self._closing = False
        self._announce = None  # see announce_spares
        self._work = threading.Condition()
        self._background = threading.Thread(target=self._maintain, name="course-databases", daemon=True)
        self._background.start()

    # -- roles -----------------------------------------------------------------------------

    def _create_role(self, name: str | None = None, admin=None) -> ConnectionParams:
        role = name or self.role
        assert role is not None  # without a name only while the session has its role (callers check)
        password = new_password()
        # the judge reads what Postgres received (checker.judge.serverlog): only where runs are judged
        # apart (a forking worker); the portable way checks beside the learner's code, and logging
        # every statement there would cost the server for nothing
        logged = getattr(self.server, "statement_log", None) is not None and platform.can_fork_workers()
        try:
            admin = admin or self._admin
            admin.execute(
                f"CREATE ROLE {_quote(role)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
                f"NOBYPASSRLS CONNECTION LIMIT {ROLE_CONNECTIONS} PASSWORD '{password}'"
            )
            for setting, value in ROLE_SETTINGS.items():
                if setting in STATEMENT_LOG_SETTINGS and not logged:
                    continue  # a server that keeps no statement log for the judge (url, docker): its logs stay as they are
                with contextlib.suppress(Exception):  # a url server may not know one of them
                    admin.execute(f"ALTER ROLE {_quote(role)} SET {setting} = '{value}'")
        except Exception:
            # A url server whose user may not create roles: learner code then runs as that user.
            if name is None:
                self.role = None
            return self.server.admin
        learner = self.server.admin.as_user(role, password)
        if logged:
            self._create_judge_role(learner, admin)
        return learner

    def _create_judge_role(self, learner: ConnectionParams, admin) -> None:
        """The judge's role beside ``learner``'s (``<learner>_judge``): a member of it, so the
        judge reaches every object the learner's code makes (it connects with ``role`` set to the
        learner's, and what it creates belongs to the learner), but logged in as itself: its
        statements (seeds, resets, its look at the data) stay out of the statement log the judge
        reads, and learner code, which is not a member of it, cannot end its connections. Its
        password goes to the judge alone (``checker.judge``), never to a process that runs
        learner code. None made (a server that may not): the judge connects as the learner."""
        role = f"{learner.user}{JUDGE_SUFFIX}"
        password = new_password()
        try:
            admin.execute(
                f"CREATE ROLE {_quote(role)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
                f"NOBYPASSRLS CONNECTION LIMIT {JUDGE_CONNECTIONS} PASSWORD '{password}' IN ROLE {_quote(learner.user)}"
            )
            for setting, value in ROLE_SETTINGS.items():
                if setting not in STATEMENT_LOG_SETTINGS:
                    with contextlib.suppress(Exception):
                        admin.execute(f"ALTER ROLE {_quote(role)} SET {setting} = '{value}'")
        except Exception:
            return
        self._judges[learner.user] = learner.as_user(role, password)  # one key per role: no lock needed

    def server_version(self) -> str:
        with self._lock:
            return self._admin.execute("SHOW server_version").fetchone()[0]

    # -- databases -------------------------------------------------------------------------

    def create_database(self) -> str:
        """A new empty database owned by the learner role; only it (and admins) may connect.

        A spare made ahead of time when there is one. If the server died (killed, crashed), a
        server this session started is started again.
        """
        import psycopg

        try:
            with self._lock:
                self._admin.execute("SELECT 1")  # the server is alive (spares die with it)
            with self._work:  # the new spare is made after the run, with the drop (not during it)
                name = self._ready.popleft() if self._ready else None
            return name or self._create_database()
        except (psycopg.OperationalError, psycopg.InterfaceError):
            self._recover()
            return self._create_database()

    def _recover(self) -> None:
        """Reconnect, restarting the embedded server if it was ours and is gone."""
        from course.postgres import embedded

        with self._work:
            self._generation += 1
            self._stalled = False
            self._ready.clear()
            self._to_drop.clear()
            self._work.notify_all()
        with self._lock:
            with contextlib.suppress(Exception):
                self._admin.close()
            server = self.server
            if isinstance(server, embedded.EmbeddedServer) and server.owned and server.pid() is None:
                server.close()
                self.server = embedded.start(persistent=False, isolate=self.isolate)
            self._admin = _connect(self.server.admin)
            self._owners.clear()
            self._judges.clear()
            if self.role:
                with contextlib.suppress(Exception):
                    self._admin.execute(f"DROP ROLE IF EXISTS {_quote(self.role + JUDGE_SUFFIX)}")
                    self._admin.execute(f"DROP ROLE IF EXISTS {_quote(self.role)}")
                self.learner = self._create_role()

    def _create_database(self, admin=None) -> str:
        """Create a database (and its role when isolating) through ``admin`` (default: ours)."""
        if admin is None:
            with self._lock:
                return self._create_database(self._admin)
        number = next(self._counter)
        name = f"{DATABASE_PREFIX}{self.id}_{number}"
        learner = self._create_role(f"{self.role}_{number}", admin) if self.isolate and self.role else self.learner
        with self._work:
            self._owners[name] = learner
        owner = f" OWNER {_quote(learner.user)}" if learner.user != self.server.admin.user else ""
        admin.execute(f"CREATE DATABASE {_quote(name)}{owner} TEMPLATE template0 ENCODING 'UTF8'{self._strategy}")
        admin.execute(f"REVOKE CONNECT, TEMPORARY ON DATABASE {_quote(name)} FROM PUBLIC")
        return name

    def drop_database(self, name: str) -> None:
        """Drop ``name`` soon (in the background: the caller does not wait for it)."""
        if not name.startswith(DATABASE_PREFIX):
            raise ValueError(f"refusing to drop {name!r}: not a database this runner created")
        with self._work:
            background = not self._closing and not self._stalled
            if background:
                self._to_drop.append(name)
                self._work.notify_all()
        if not background:
            with self._lock:
                self._drop(name, self._admin)

    def _drop(self, name: str, admin) -> None:
        import psycopg

        try:
            admin.execute(f"DROP DATABASE IF EXISTS {_quote(name)} WITH (FORCE)")
        except (psycopg.OperationalError, psycopg.InterfaceError):
            return  # the server is gone, and the database with it; the next create recovers
        with self._work:
            owner = self._owners.pop(name, None)
            judge = self._judges.pop(owner.user, None) if owner is not None and owner.user != self.role else None
        if judge is not None:
            admin.execute(f"DROP ROLE IF EXISTS {_quote(judge.user)}")
        if owner is not None and owner.user not in (self.role, self.server.admin.user):
            admin.execute(f"DROP ROLE IF EXISTS {_quote(owner.user)}")

    def settle(self, timeout: float = 10.0) -> bool:
        """Wait until the background work is done: used databases dropped, spares ready."""
        import time

        deadline = time.monotonic() + timeout
        with self._work:
            while self._busy or (not self._stalled and (self._to_drop or len(self._ready) < self.spares)):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._work.wait(remaining)
        return True

    def announce_spares(self, callback) -> None:
        """Call ``callback(database, learner_url)`` for each spare before a run can get it (a warm
        worker then prepares a child connected to it, see ``WarmWorker.prepare``); now for those
        ready."""
        with self._work:
            self._announce = callback
            ready = list(self._ready)
        for name in ready:
            self._announce_spare(name)

    def _announce_spare(self, name: str) -> None:
        callback = self._announce
        if callback is not None:
            try:
                callback(name, self.learner_params(name).sqlalchemy_url())
            except Exception:  # only speed is at stake
                pass

    def _maintain(self) -> None:
        """The background thread: drop used databases, keep ``spares`` empty ones ready."""
        import psycopg

        admin = None
        while True:
            with self._work:
                while not self._closing and (self._stalled or (not self._to_drop and len(self._ready) >= self.spares)):
                    self._work.wait()
                if self._closing:
                    break
                generation = self._generation
                drop = self._to_drop.popleft() if self._to_drop else None
                self._busy = True
            try:
                if admin is None:
                    admin = _connect(self.server.admin)
                if drop is not None:
                    self._drop(drop, admin)
                else:
                    name = self._create_database(admin)
                    # the first connection to a new database builds its catalog caches (~4 ms):
                    # pay that here rather than in the check
                    psycopg.connect(self.server.admin.with_db(name).conninfo(), connect_timeout=10).close()
                    self._announce_spare(name)  # before a run can take it: the preparation comes first
                    with self._work:
                        if generation == self._generation:
                            self._ready.append(name)
            except (psycopg.Error, BackendError):
                # the server is gone or refuses: wait for the foreground to recover (see _recover)
                if admin is not None:  # None when _connect itself failed
                    with contextlib.suppress(Exception):
                        admin.close()
                admin = None
                with self._work:
                    self._stalled = generation == self._generation
            finally:
                with self._work:
                    self._busy = False
                    self._work.notify_all()
        if admin is not None:
            with contextlib.suppress(Exception):
                admin.close()

    def judge_params(self, database: str) -> ConnectionParams | None:
        """How the judge of a run on ``database`` connects (see :meth:`_create_judge_role`); None
        when there is no judge role (it then connects as the learner)."""
        learner = self._owners.get(database, self.learner)
        judge = self._judges.get(learner.user)
        if judge is None:
            return None
        params = judge.with_db(database)
        address = getattr(self.server, "learner_address", None)
        return dataclasses.replace(params, host=address[0], port=address[1]) if address else params

    def learner_params(self, database: str) -> ConnectionParams:
        """How learner code connects to ``database``: as its owner role; over loopback TCP when
        the server offers it for confined runs (which cannot reach the server's socket folder)."""
        params = self._owners.get(database, self.learner).with_db(database)
        address = getattr(self.server, "learner_address", None)
        return dataclasses.replace(params, host=address[0], port=address[1]) if address else params

    def bound_crossed(self, database: str) -> str | None:
        """Why ``database`` is past a bound of one submission (:data:`DATABASE_SIZE_LIMIT`,
        :data:`LOCK_LIMIT`) — its connections are then ended — or None (also when the server
        will not say: a url server whose user may not look)."""
        import psycopg

        try:
            with self._lock:
                row = self._admin.execute(
                    "SELECT pg_database_size(d.oid), (SELECT count(*) FROM pg_locks l WHERE l.database = d.oid) "
                    "FROM pg_database d WHERE d.datname = %s",
                    (database,),
                ).fetchone()
        except psycopg.Error:
            return None
        if row is None:
            return None
        size, locks = row
        if size > DATABASE_SIZE_LIMIT:
            why = (
                f"your database grew past {DATABASE_SIZE_LIMIT >> 20} MiB, the bound of one submission "
                f"({size >> 20} MiB): the run was stopped. Insert only what the exercise asks for"
            )
        elif locks > LOCK_LIMIT:
            why = (
                f"your code held more than {LOCK_LIMIT} locks at once, the bound of one submission ({locks}; "
                "e.g. pg_advisory_lock in a loop, never released): the run was stopped"
            )
        else:
            return None
        self.end_connections(database)
        return why

    def end_connections(self, database: str) -> None:
        """End every connection to ``database`` (its session-level locks go with them)."""
        import psycopg

        with contextlib.suppress(psycopg.Error), self._lock:
            self._admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            )

    def another(self) -> DatabaseSession | None:
        """A session like this one on a server of its own (class runs: one per concurrent job, so a
        submission that fills a server's shared lock table or memory hurts only its own runs);
        None where that cannot be had (a url server: the bounds above still hold there)."""
        from course.postgres import embedded

        if not isinstance(self.server, embedded.EmbeddedServer) or not self.server.owned:
            return None
        server = embedded.start(persistent=False, isolate=self.isolate)
        try:
            return DatabaseSession(server, isolate=self.isolate, spares=1)  # one run at a time on it
        except BaseException:
            server.close()
            raise

    def server_alive(self) -> bool:
        """Whether the server still answers (a run that ended badly may be the server's doing)."""
        try:
            with self._lock:
                self._admin.execute("SELECT 1")
            return True
        except Exception:
            return False

    # -- cleanup ---------------------------------------------------------------------------

    def _reap_dead_sessions(self) -> None:
        """Drop databases and roles of earlier sessions of this machine whose process is gone."""
        registry = self._registry.parent
        dead = []
        for entry in registry.iterdir():
            try:
                pid = int(entry.read_text(encoding="utf-8"))
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
                roles = self._admin.execute(
                    "SELECT rolname FROM pg_roles WHERE rolname = %s OR rolname LIKE %s", (prefix, pattern)
                )
                for (role,) in roles.fetchall():
                    self._admin.execute(f"DROP ROLE IF EXISTS {_quote(role)}")
            entry.unlink(missing_ok=True)

    def close(self) -> None:
        """Drop every database and the role of this session, then release the server."""
        with self._work:
            self._closing = True
            self._work.notify_all()
        self._background.join(timeout=30)
        try:
            # a server of our own is deleted with everything in it; on any other, drop what we made
            throwaway = getattr(self.server, "owned", False)
            for name in [] if throwaway else list(self._owners):
                with contextlib.suppress(Exception), self._lock:
                    self._drop(name, self._admin)
            if self.role:
                with contextlib.suppress(Exception):
                    self._admin.execute(f"DROP ROLE IF EXISTS {_quote(self.role + JUDGE_SUFFIX)}")
                with contextlib.suppress(Exception):
                    self._admin.execute(f"DROP ROLE IF EXISTS {_quote(self.role)}")
            with contextlib.suppress(Exception):
                self._admin.close()
        finally:
            self._registry.unlink(missing_ok=True)
            self.server.close()


def open_session(
    backend: str | None = None, database_url: str | None = None, *, isolate: bool = False, spares: int = 1
) -> DatabaseSession:
    """Choose a backend, start or reuse its server, and open a session on it.

    ``isolate`` (for grading many submissions): a role per database, and an embedded server of
    our own that requires passwords, so a submission cannot log in as another one's role.
    ``spares``: empty databases kept ready (0 for a one-off check: nothing to win).
    """
    from course.postgres.choose import choose_backend, open_server

    server = open_server(choose_backend(backend, database_url), secure=isolate)
    try:
        return DatabaseSession(server, isolate=isolate, spares=spares)
    except BaseException:
        server.close()
        raise


__all__ = ["DatabaseSession", "open_session"]
