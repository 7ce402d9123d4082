"""Per-exercise development databases for ``course exec`` (e.g. ``alembic revision --autogenerate``).

A dev database must outlive one command (autogenerate, then upgrade, then inspect), so it lives
on the shared server of ``course db start`` (started here when needed) or on the ``url`` server.
Its name is stable: ``course_dev_<exercise>``; sessions never reap it.
"""

from __future__ import annotations

import re
from collections.abc import Callable


def dev_database_name(exercise) -> str:
    return "course_dev_" + re.sub(r"[^a-z0-9]+", "_", exercise.id.lower()).strip("_")


def dev_database_url(
    exercise, backend: str | None = None, database_url: str | None = None, notify: Callable[[str], None] = lambda line: None
) -> str:
    """The URL of ``exercise``'s dev database, made if missing (on the shared server, started if
    needed: ``notify`` is told so). Raises ``BackendError`` (one line) when no server can be had."""
    from course.postgres import embedded
    from course.postgres.choose import choose_backend
    from course.postgres.session import _connect, _quote
    from course.postgres.url import UrlServer

    choice = choose_backend(backend, database_url)
    server: UrlServer | embedded.EmbeddedServer | None
    if choice.backend == "url":
        server = UrlServer(choice.database_url or "")
    else:
        server = embedded.running_persistent()
        if server is None:
            server = embedded.start(persistent=True)
            notify(f"course: started a shared Postgres for dev databases ({server.describe()}); stop it with `course db stop`")
    import psycopg

    from course.postgres.base import BackendError

    name = dev_database_name(exercise)
    conn = _connect(server.admin)
    try:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f"CREATE DATABASE {_quote(name)}")
    except psycopg.errors.InsufficientPrivilege as error:
        raise BackendError(
            f"cannot create the dev database {name} on {server.describe()}: {str(error).strip().splitlines()[0]}; "
            f"fix: create it once as a user who may (CREATE DATABASE {name} OWNER <your user>), "
            "or give your user CREATEDB, or use the embedded backend (--backend embedded)"
        ) from error
    finally:
        conn.close()
    return server.admin.with_db(name).sqlalchemy_url()
