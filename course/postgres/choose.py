"""Which backend to use, and why; opening it."""

from __future__ import annotations

import os
from dataclasses import dataclass

from course.postgres.base import BackendError, PostgresServer

BACKENDS = ("embedded", "docker", "url")


@dataclass(frozen=True)
class Choice:
    backend: str
    reason: str
    database_url: str | None = None


def choose_backend(backend: str | None = None, database_url: str | None = None) -> Choice:
    """The order README gives: an explicit choice wins; else url if given, docker if it answers, else embedded."""
    backend = backend or os.environ.get("COURSE_BACKEND") or None
    database_url = database_url or os.environ.get("COURSE_DATABASE_URL") or None
    if backend is not None and backend not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r}; fix: use one of {', '.join(BACKENDS)}")
    if backend == "url" or (backend is None and database_url):
        if not database_url:
            raise BackendError("--backend url needs a server; fix: pass --database-url or set COURSE_DATABASE_URL")
        return Choice("url", "a database URL was given (--database-url / COURSE_DATABASE_URL)", database_url)
    if backend == "embedded":
        return Choice("embedded", "chosen explicitly")
    from course.postgres.docker import docker_available

    available, why = docker_available()
    if backend == "docker":
        if not available:
            raise BackendError(f"--backend docker needs Docker: {why}; fix: start Docker, or use --backend embedded")
        return Choice("docker", "chosen explicitly; " + why)
    if available:
        return Choice("docker", why)
    return Choice("embedded", f"{why}; using the embedded binaries")


def open_server(choice: Choice, *, secure: bool = False) -> PostgresServer:
    """Start or reuse a server for ``choice``; the caller must ``close()`` it.

    ``secure`` (class grading): never reuse the shared server of ``course db start``; start one of
    this session's own that seals each database to its own role (see ``embedded.start``).
    """
    if choice.backend == "url":
        from course.postgres.url import UrlServer

        return UrlServer(choice.database_url or "")
    if choice.backend == "docker":
        from course.postgres.docker import DockerServer

        return DockerServer()
    from course.postgres import embedded

    if secure:
        return embedded.start(persistent=False, isolate=True)
    # every server requires passwords: learner code cannot log in as the superuser
    return embedded.running_persistent() or embedded.start(persistent=False)
