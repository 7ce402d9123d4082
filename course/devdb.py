"""Per-exercise development databases for ``course exec`` (e.g. ``alembic revision --autogenerate``).

A dev database must outlive one command (autogenerate, then upgrade, then inspect), so it lives
on the shared server of ``course db start`` (started here when needed) or on the ``url`` server.
Its name is stable: ``course_dev_<exercise>``; sessions never reap it.
"""

from __future__ import annotations

import re

import click

from course.postgres.base import BackendError


def dev_database_name(exercise) -> str:
    return "course_dev_" + re.sub(r"[^a-z0-9]+", "_", exercise.id.lower()).strip("_")


def dev_database_url(ctx, exercise) -> str:
    from course.cli import Fatal
    from course.postgres import embedded
    from course.postgres.choose import choose_backend
    from course.postgres.session import _connect, _quote
    from course.postgres.url import UrlServer

    try:
        choice = choose_backend(ctx.backend, ctx.database_url)
        if choice.backend == "url":
            server = UrlServer(choice.database_url or "")
        else:
            server = embedded.running_persistent()
            if server is None:
                server = embedded.start(persistent=True)
                click.echo(f"course: started a shared Postgres for dev databases ({server.describe()}); "
                           "stop it with `course db stop`", err=True)
        name = dev_database_name(exercise)
        conn = _connect(server.admin)
        try:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(f"CREATE DATABASE {_quote(name)}")
        finally:
            conn.close()
    except BackendError as error:
        raise Fatal(str(error)) from None
    return server.admin.with_db(name).sqlalchemy_url()
