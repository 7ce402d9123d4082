"""The grading service's client: ``course check`` talks to the warm grader behind ``course db start``.

A one-off ``course check`` pays for a Python process that imports SQLAlchemy, psycopg, Alembic
and FastAPI, plus a database session; the service pays that once. It holds a session on the
shared server (with spare databases made ahead of time) and a warm worker that forks a fresh,
isolated child per run, exactly as the TUI does. The CLI then only imports what it needs to
print, so a check costs little more than the checks themselves.

Protocol: a unix stream socket ``grader.sock`` in the state directory (mode 0600); one JSON line
per request, one JSON line per answer.

- ``{"fingerprint": F, "jobs": [job, ...]}`` — answers ``{"result": ...}`` for each job, in order
  (graded ``PARALLEL`` at a time). Closing the connection cancels what is still running. A job is
  :meth:`checker.wire.GradingJob.to_json`, a result :meth:`checker.results.ExerciseResult.to_wire`;
  a request holding anything else is answered with an error and nothing is graded.
- ``{"fingerprint": F, "ping": true}`` — answers ``{"pong": pid}``.
- ``{"stop": true}`` — the service shuts down (as on SIGTERM).
- ``{"pid": true}`` — answers ``{"pid": pid}`` whatever its code (how a pid is checked without
  ``/proc``).

The pid file ``grader.pid`` records the service's pid, start time and executable: ``course db
stop`` signals only that very process (:func:`running_pid`).

Any problem is answered with ``{"error": "one line"}``; a client then grades on its own. ``F``
is :func:`fingerprint` of the grading code: a service started before the code changed (an
upgrade, an edit) is not used, and says so.

This module is the client side and the pid file; the service itself is :mod:`course.grading.server`
(``python -m course.grading.server``: ``course db start`` starts it, ``course db stop`` stops it).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from course import __version__, locations

if TYPE_CHECKING:
    from checker.wire import GradingJob

PARALLEL = 2
"""Exercises graded at once for one request (``check --all``)."""
READY_TIMEOUT_S = 20.0
RESTART = " restart it with `course db stop && course db start`"


class ServiceUnavailable(Exception):
    """No usable service: the caller grades on its own. ``str()`` says why, in one line."""


def socket_path() -> Path:
    return locations.state_dir() / "grader.sock"


def pid_path() -> Path:
    return locations.state_dir() / "grader.pid"


def log_path() -> Path:
    return locations.state_dir() / "grader.log"


def fingerprint(root: Path | None = None) -> str:
    """Changes whenever the grading code changes: every module of both packages under ``root``
    (where they are installed), however deep, so a file added or moved cannot leave a stale
    service in use (stat only: about a millisecond)."""
    root = root or locations.PACKAGE_DIR.parent
    parts = [__version__, sys.executable]
    for folder in (root / "checker", root / "course"):
        for path in sorted(folder.rglob("*.py")):
            with contextlib.suppress(OSError):
                stat = path.stat()
                parts.append(f"{path}:{stat.st_mtime_ns}:{stat.st_size}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


# -- the client side (imports nothing heavy) ----------------------------------------------------


def _connect(timeout: float | None = 5.0) -> socket.socket:
    """A connection to the service: its unix socket (0600), or, the portable way, loopback TCP
    at the address its 0600 file names, opened with the key that file holds."""
    path = socket_path()
    if not path.exists():
        raise ServiceUnavailable("no grading service is running (start one with `course db start`)")
    key = None
    address: str | tuple[str, int]
    if path.is_socket():
        client, address = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM), str(path)
    else:
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            address, key = ("127.0.0.1", int(entry["port"])), str(entry["key"])
        except (OSError, ValueError, KeyError, TypeError):
            raise ServiceUnavailable(f"the grading service's address file is unreadable;{RESTART}") from None
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.settimeout(timeout)
    try:
        client.connect(address)
        if key is not None:
            client.sendall(json.dumps({"key": key}).encode() + b"\n")
    except OSError as error:
        client.close()
        raise ServiceUnavailable(f"the grading service does not answer ({error.strerror or error});{RESTART}") from None
    return client


def _request(client: socket.socket, message: dict) -> None:
    client.sendall(json.dumps(message).encode() + b"\n")


def _answers(client: socket.socket):
    """The service's answers, one dict per line, until it closes the connection."""
    reader = client.makefile("rb")
    for line in reader:
        answer = json.loads(line)
        if "error" in answer:
            raise ServiceUnavailable(answer["error"])
        yield answer


def ping(timeout: float = 2.0) -> int:
    """The service's pid if it runs the current code; else :class:`ServiceUnavailable`."""
    with contextlib.closing(_connect(timeout)) as client:
        _request(client, {"fingerprint": fingerprint(), "ping": True})
        for answer in _answers(client):
            return int(answer["pong"])
    raise ServiceUnavailable(f"the grading service closed the connection;{RESTART}")


def grade_remotely(jobs: list[GradingJob]):
    """Yield an ``ExerciseResult`` per job, in order, graded by the service.

    Raises :class:`ServiceUnavailable` (before or between results) if it cannot; the results
    already yielded stand. Closing the generator (Ctrl-C) cancels the rest on the service's side.
    """
    from checker.results import ExerciseResult
    from checker.wire import WireError

    client = _connect()
    client.settimeout(None)  # a run is bounded by the service's own time limits
    try:
        _request(client, {"fingerprint": fingerprint(), "jobs": [job.to_json() for job in jobs]})
        count = 0
        for answer in _answers(client):
            try:
                result = ExerciseResult.from_json(answer["result"])
            except (KeyError, TypeError, WireError) as why:
                raise ServiceUnavailable(f"the grading service sent something that is not a result ({why});{RESTART}") from None
            yield result
            count += 1
        if count < len(jobs):
            raise ServiceUnavailable(f"the grading service stopped before it finished;{RESTART}")
    except OSError as error:
        raise ServiceUnavailable(f"lost the grading service ({error.strerror or error});{RESTART}") from None
    finally:
        client.close()


def stop(timeout: float = 15.0) -> bool:
    """Ask the service to stop and wait until it has; True if one was running. Only a process
    proven to be our service (:func:`running_pid`) is ever signalled."""
    found = _verified()
    try:
        with contextlib.closing(_connect(2.0)) as client:
            _request(client, {"stop": True})
            with contextlib.suppress(OSError):
                client.recv(1)
    except ServiceUnavailable:
        if found is None:  # no service, or a pid file naming some other process: left alone
            socket_path().unlink(missing_ok=True)
            pid_path().unlink(missing_ok=True)
            return False
        _signal(found, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while found is not None and _still(found) and time.monotonic() < deadline:
        time.sleep(0.02)
    if found is not None:
        _signal(found, None)  # a hard kill, a no-op unless it is still that same process
    socket_path().unlink(missing_ok=True)
    pid_path().unlink(missing_ok=True)
    return True


def running_pid() -> int | None:
    """The service's pid, if its pid file names a live service: the same process that wrote it
    (same start time and executable, from ``/proc``), not one that got the pid of one that died
    or merely looks like it. Without ``/proc`` (macOS, Windows), the service must say over its
    socket that it has that pid."""
    found = _verified()
    return found[0] if found else None


_PROC = Path("/proc")


def _identity(pid: int) -> dict | None:
    """What tells process ``pid`` apart from any other that had or will have its number: its
    start time (field 22 of ``/proc/<pid>/stat``, in clock ticks since boot) and its executable.
    None if it is gone or not ours to inspect."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text(encoding="utf-8")
        exe = os.readlink(_PROC / str(pid) / "exe")
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # the name before ")" may hold spaces
    return {"start": fields[19], "exe": exe} if len(fields) > 19 else None


def write_pid_file() -> None:
    """Record who we are, atomically (a reader never sees half a file), readable by us alone."""
    record = {"pid": os.getpid(), **(_identity(os.getpid()) or {})}
    temporary = pid_path().with_name(f"{pid_path().name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(record))
    os.replace(temporary, pid_path())


def pid_record() -> dict | None:
    try:
        record = json.loads(pid_path().read_text(encoding="utf-8"))
        return record if isinstance(record, dict) and isinstance(record.get("pid"), int) else None
    except (OSError, ValueError):  # none, or not written by this version: nothing to trust
        return None


def _verified() -> tuple[int, dict | None] | None:
    """(pid, identity) of the service the pid file names, if it is that very process."""
    record = pid_record()
    if record is None or not _alive(record["pid"]):
        return None
    pid = record["pid"]
    if _PROC.is_dir():
        now = _identity(pid)
        if now is None or now.get("start") != record.get("start") or now.get("exe") != record.get("exe"):
            return None
        return pid, now
    try:  # no /proc: only a pid the service itself gives us
        with contextlib.closing(_connect(2.0)) as client:
            _request(client, {"pid": True})
            answer = json.loads(client.makefile("rb").readline() or b"{}")
    except (ServiceUnavailable, OSError, ValueError):
        return None
    return (pid, None) if answer.get("pid") == pid else None


def _still(found: tuple[int, dict | None]) -> bool:
    """Whether the process found earlier still runs (not a newcomer with its pid)."""
    pid, identity = found
    return _alive(pid) and (identity is None or _identity(pid) == identity)


def _signal(found: tuple[int, dict | None], signum: int | None) -> None:
    """SIGTERM (``signum``), or a hard kill (None: SIGKILL; TerminateProcess on Windows)."""
    from checker.process import platform

    if not _still(found):
        return
    if signum is None or not platform.posix_processes():
        platform.kill_hard(found[0])
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(found[0], signum)


def _alive(pid: int) -> bool:
    from checker.process import platform

    return platform.process_alive(pid)


def start() -> int:
    """Start the service in the background (the shared server must be running); its pid."""
    import subprocess

    from checker.process import platform

    stop()
    locations.state_dir().mkdir(parents=True, exist_ok=True)
    with open(log_path(), "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-P", "-m", "course.grading.server"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            close_fds=True,
            **platform.detached(),  # a Ctrl-C in this terminal is not for the service
        )
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServiceUnavailable(f"the grading service exited at start; see {log_path()}")
        try:
            return ping()
        except ServiceUnavailable:
            time.sleep(0.05)
    process.kill()
    raise ServiceUnavailable(f"the grading service did not start within {READY_TIMEOUT_S:.0f} s; see {log_path()}")
