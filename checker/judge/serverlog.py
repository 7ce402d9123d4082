"""The SQL the learner's code sent, as Postgres received it: read from the server's statement log.

The embedded server writes ``jsonlog`` (``course.postgres.embedded``: ``logging_collector``, one
file, no rotation) and every learner role has ``log_statement = 'all'``, set by the superuser (a
setting the role cannot change or turn off). The log file belongs to the server's user (0600):
confined learner code cannot read or write it; the judge (the grader's uid) reads it. The server
never rotates it; a run that finds it past :data:`LOG_BOUND` with no other run reading it empties
it (:func:`bound`), so a long-lived server's log stays bounded.

After each act the judge sends a marker on its own connection: a statement that fails, since its
role logs nothing but errors (``checker.judge.process``); the log collector writes what backends
sent in order, so once the marker is in the file, everything the act's statements left is too.
The judge's own backends (their pids) are left out; only the run's
database counts. Extended-protocol statements (``execute <unnamed>: ... $1``) keep their text
with the placeholders and the ``Parameters: $1 = ...`` detail beside it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

READ_LIMIT = 64 << 20
"""Bytes of log read for one act at most: past it, the rest is not SQL evidence anyone needs."""
MARK_TIMEOUT_S = 5.0
"""How long the judge waits for its marker to appear in the log."""
LOG_BOUND = 32 << 20
"""Bytes past which a run that finds no other reader empties the statement log first."""

_STATEMENT = re.compile(r"^(?:statement|execute [^:]*|execute fetch from [^:]*): ", re.DOTALL)


@dataclass
class ServerStatement:
    """One statement a backend of the run's database received."""

    sql: str
    parameters: str | None
    pid: int


class LogUnavailable(Exception):
    """The server writes no statement log the judge can read (url and docker backends, a server
    without the settings, a role without ``log_statement``)."""


class ServerLog:
    """The statement log of the run's server, read from offsets the judge notes.

    One handle for the whole run, holding a shared ``flock`` on the file: while any run reads the
    log, nobody truncates it. A run that starts when the log is past :data:`LOG_BOUND` and finds
    no other reader empties it first (:func:`bound`), so the log of a long-lived server stays
    bounded. Lines of other databases are skipped with a substring test before any ``json.loads``."""

    def __init__(self, path: Path, database: str, own_pids: set[int]):
        self.path = Path(path)
        self.database = database
        self.own_pids = own_pids
        """The judge's backends: their statements are not the learner's."""
        self._handle: BinaryIO | None = None
        self._after_mark: int | None = None
        """Where the line of the last marker read ends, while nothing the learner sent since can be
        missing from the file before it (see :meth:`synced`)."""
        name = json.dumps(database, ensure_ascii=False)
        self._needle = f'"dbname":{name}'.encode() if re.fullmatch(r"[\w$-]+", database, re.ASCII) else None
        """Bytes every line of the run's database holds (jsonlog writes without spaces)."""

    def attach(self) -> ServerLog:
        """Bound the log if no one reads it, then open it for the run (its shared lock taken)."""
        import fcntl

        bound(self.path)
        try:
            handle = open(self.path, "rb")  # noqa: SIM115 - closed by close()
        except OSError as error:
            raise LogUnavailable(f"the server's statement log cannot be read ({error})") from None
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH)
        except OSError:
            pass  # a file system without locks: reading still works, only the bound is off
        self._handle = handle
        return self

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()  # the lock goes with it
            self._handle = None

    def offset(self) -> int:
        try:
            return os.stat(self.path).st_size
        except OSError as error:
            raise LogUnavailable(f"the server's statement log cannot be read ({error})") from None

    def synced(self, mark) -> int:
        """A position in the log past every line of what the learner's process sent before now.

        The log collector writes a backend's lines some time after the backend received them: the
        file's size is no such position. The end of a marker the judge sent after them is: the
        last one read when nothing ran since (:meth:`unsynced` says otherwise), else a new one."""
        if self._after_mark is None:
            self.statements_since(self.offset(), mark)
        assert self._after_mark is not None
        return self._after_mark

    def unsynced(self) -> None:
        """The learner's process may have sent statements since the last marker (an act the judge
        did not watch): the next :meth:`synced` sends a marker of its own."""
        self._after_mark = None

    def statements_since(self, offset: int, mark) -> list[ServerStatement]:
        """The learner's statements logged after ``offset``, up to the marker that ``mark(text)``
        sends on the judge's own connection (a deadline bounds the wait, not each read)."""
        nonce = "course-mark-" + secrets.token_hex(8)
        mark(nonce)
        token = nonce.encode()
        needle = self._needle
        deadline = time.monotonic() + MARK_TIMEOUT_S
        buffer = bytearray()
        statements: list[ServerStatement] = []
        if self._handle is None:
            self.attach()
        handle = self._handle
        assert handle is not None
        handle.seek(offset)
        read = 0
        pause = 0.0002
        while True:
            chunk = handle.read(1 << 20)
            if chunk:
                read += len(chunk)
                if read > READ_LIMIT:
                    raise LogUnavailable("the statement log grew past what one act may send")
                buffer += chunk
                start = 0
                while (end := buffer.find(b"\n", start)) >= 0:
                    line = bytes(buffer[start:end])
                    start = end + 1
                    if token in line:
                        entry = _entry(line)
                        if entry is not None and nonce in entry.get("message", "") and entry.get("pid") in self.own_pids:
                            self._after_mark = handle.tell() - (len(buffer) - start)
                            return statements
                    if needle is not None and needle not in line:
                        continue  # another database's line (or no statement of any)
                    entry = _entry(line)
                    if entry is None:
                        continue
                    statement = self._statement(entry)
                    if statement is not None:
                        statements.append(statement)
                del buffer[:start]
                pause = 0.0002
                continue
            if time.monotonic() > deadline:
                raise LogUnavailable("the judge's marker did not appear in the server's statement log")
            time.sleep(pause)
            pause = min(pause * 2, 0.002)

    def _statement(self, entry: dict) -> ServerStatement | None:
        if entry.get("dbname") != self.database or entry.get("pid") in self.own_pids:
            return None
        if entry.get("error_severity") != "LOG" or entry.get("backend_type", "client backend") != "client backend":
            return None
        message = entry.get("message", "")
        found = _STATEMENT.match(message)
        if found is None:
            return None
        detail = entry.get("detail")
        parameters = detail[len("Parameters: ") :] if isinstance(detail, str) and detail.startswith("Parameters: ") else None
        return ServerStatement(message[found.end() :], parameters, int(entry.get("pid") or 0))


def bound(path: Path, limit: int | None = None) -> bool:
    """Empty the statement log at ``path`` if it is past ``limit`` bytes and no run reads it (an
    exclusive ``flock`` taken without waiting: every reading run holds a shared one). The server
    appends (``O_APPEND``), so its next line starts the file again. True if it was emptied."""
    import fcntl

    limit = LOG_BOUND if limit is None else limit
    try:
        if os.stat(path).st_size <= limit:
            return False
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.ftruncate(fd, 0)
        return True
    except OSError:
        return False  # a run reads it (or it cannot be locked): the next run tries again
    finally:
        os.close(fd)  # the lock goes with it


def _entry(line: bytes) -> dict | None:
    try:
        entry = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return entry if isinstance(entry, dict) else None


_PLACEHOLDER = re.compile(r"%\(\w+\)s|%s|\$\d+")
_SPACE = re.compile(r"\s+")


def comparable(sql: str) -> str:
    """``sql`` with its placeholders and spacing made alike: SQLAlchemy's ``%(id_1)s`` and the
    server's ``$1`` compare equal (to match the witness's hints to the server's statements)."""
    return _SPACE.sub(" ", _PLACEHOLDER.sub("?", sql)).strip().rstrip(";").lower()
