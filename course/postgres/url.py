"""The ``url`` backend: an existing server the user points us at.

The runner only ever creates and drops databases (and roles) whose names it generated, with
the ``course_`` prefix; it never touches anything else on that server.
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

from course.postgres.base import BackendError, ConnectionParams


def parse_database_url(url: str) -> ConnectionParams:
    """Read ``postgresql[+driver]://user:pass@host:port/db`` (``?host=/socket/dir`` allowed)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in ("postgresql", "postgres"):
        raise BackendError(
            f"the database URL must start with postgresql:// (got {parts.scheme or 'no scheme'}://); "
            "fix: pass e.g. --database-url postgresql://postgres:secret@localhost:5432/postgres"
        )
    query = parse_qs(parts.query)
    host = unquote(parts.hostname or "") or query.get("host", [""])[0] or "localhost"
    try:
        port = parts.port or int(query.get("port", ["5432"])[0])
    except ValueError as error:
        raise BackendError(f"the database URL has a bad port ({error}); fix: use host:5432") from None
    return ConnectionParams(
        host=host,
        port=port,
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password) if parts.password else None,
        dbname=unquote(parts.path.lstrip("/")) or "postgres",
    )


class UrlServer:
    """A server that someone else runs; we only borrow it."""

    backend = "url"

    def __init__(self, url: str):
        self.admin = parse_database_url(url)
        self.learner = self.admin

    def describe(self) -> str:
        where = f"{self.admin.host}:{self.admin.port}" if not self.admin.host.startswith("/") else self.admin.host
        return f"existing server at {where} as {self.admin.user} (databases named course_*)"

    def close(self) -> None:
        """Nothing to stop: the server is not ours."""
