"""The warm path: a long-lived worker that has imported the heavy libraries and forks a fresh
child per grading run.

Importing SQLAlchemy, psycopg, Alembic and FastAPI costs most of a second; a fork costs a few
milliseconds. Each child imports the learner's modules itself, so runs stay isolated, and each
child leads its own process group, so a timeout kills it and everything it started.

Protocol: one ``SOCK_SEQPACKET`` unix socket; each message is JSON. The runner sends a job with
two file descriptors attached (SCM_RIGHTS): the write end of the results pipe and the output file.
The worker answers ``{"started": pid}``, and ``{"exited": pid, "status": code}`` when that child
ends (``status`` as ``Popen.returncode``: negative for a signal). Passing the pipe itself means
the runner sees EOF exactly when the child and everything it started are gone.

``{"prepare": database_url}`` (no answer) asks for a child ready for a coming run: forked ahead of
time and already connected to that database (a connection and SQLAlchemy's first-connect queries
cost 10-15 ms). A job for that database goes to it; any other job to a fresh fork, as before. At
most ``MAX_PREPARED`` wait at once (the oldest goes first).
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import socket
import sys

PRELOAD = (
    "sqlalchemy", "sqlalchemy.orm", "sqlalchemy.ext.hybrid", "sqlalchemy.ext.associationproxy",
    "sqlalchemy.dialects.postgresql", "psycopg", "checker.harness", "checker.capture", "checker.fixtures",
    "checker.report", "checker.inspectors", "checker.sqlshape", "checker.docchat", "checker.fresh",
)
"""Imported before the worker says it is ready: what every check needs."""
MAX_PREPARED = 4
PRELOAD_WHEN_IDLE = (
    "alembic.command", "alembic.config", "alembic.autogenerate", "checker.migrations", "fastapi",
    "fastapi.testclient", "httpx",
)
"""Imported one at a time while no job is waiting: children forked later get them for free."""


def _import(name: str) -> None:
    import importlib

    try:
        importlib.import_module(name)
    except Exception:  # a missing optional library only costs speed, not correctness
        pass


def _preload() -> None:
    import warnings

    from checker.harness import quiet_library_warnings

    quiet_library_warnings(warnings)
    for name in PRELOAD:
        _import(name)
    from checker import capture

    capture.install()
    try:
        from checker import warmup

        warmup.run()
    except Exception:  # only speed is at stake
        pass


def _child(job: dict, results: int, output: int, control, engines: dict | None = None) -> None:
    """In the forked child: become a process group, wire stdio, run the job."""
    if control is not None:
        control.close()
        os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.close(output)
    sys.stdin = open(os.devnull)
    for key, value in job.get("env", {}).items():
        os.environ[key] = value
    from checker import harness

    try:
        harness.run_job(job, results, engines)
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(0)


def _compile_checks(job: dict) -> None:
    """Compile the job's checks here, once per version of the file, so that children inherit it
    (a broken file is reported by the child, which compiles it again)."""
    from pathlib import Path

    from checker import harness

    try:
        harness.compile_checks(Path(job["checks_file"]))
    except Exception:
        pass


def _send(control, message: dict) -> None:
    control.send(json.dumps(message).encode())


def _reap(control, started: set[int]) -> None:
    """Report the children of runs that ended (prepared children never used end silently)."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if pid in started:
            started.discard(pid)
            code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            _send(control, {"exited": pid, "status": code})


class _Prepared:
    """A child forked ahead of the next run and connected to the database that run will get."""

    def __init__(self, database_url: str, control, others: list[_Prepared]):
        self.database_url = database_url
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        gc.freeze()
        self.pid = os.fork()
        if self.pid == 0:
            ours.close()
            _forget(others)
            _prepared_child(database_url, theirs, control)
        theirs.close()
        self.socket = ours

    def hand_over(self, data: bytes, fds: list[int]) -> bool:
        """Give it the job; False if it is gone (then a fresh fork runs the job)."""
        try:
            socket.send_fds(self.socket, [data], fds)
            return True
        except OSError:
            self.discard()
            return False
        finally:
            self.socket.close()

    def discard(self) -> None:
        self.socket.close()  # it sees EOF and exits; the kill is for one stuck in connecting
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _forget(prepared) -> None:
    """In a new child: close the worker's ends of the prepared children's sockets (learner code
    must not be able to talk to them)."""
    for other in prepared:
        other.socket.close()


def _prepared_child(database_url: str, channel, control) -> None:
    """Connect now, then wait for the run (or for the worker to give up on us)."""
    control.close()
    os.setsid()
    engines = {}
    try:
        from checker.fixtures import new_grader_engine

        engine = new_grader_engine(database_url)
        engine.connect().close()  # the pool keeps the connection for the run
        engines[database_url] = engine
    except Exception:  # the run connects by itself, and reports what goes wrong
        pass
    try:
        data, fds, _flags, _addr = socket.recv_fds(channel, 1 << 20, 2)
    except OSError:
        data = b""
    if not data or len(fds) != 2:
        os._exit(0)
    channel.close()
    _child(json.loads(data), fds[0], fds[1], None, engines)


def serve(control_fd: int) -> None:
    """The worker's loop: one job per message, until the runner closes the socket."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the runner's to handle
    _preload()
    control = socket.socket(fileno=control_fd)
    _send(control, {"ready": os.getpid()})
    idle_imports = list(PRELOAD_WHEN_IDLE)
    prepared: dict[str, _Prepared] = {}  # by database URL, oldest first
    started: set[int] = set()
    try:
        while True:
            ready, _, _ = select.select([control], [], [], 0.0 if idle_imports else 0.05)
            _reap(control, started)
            if not ready:
                if idle_imports:
                    _import(idle_imports.pop(0))
                continue
            data, fds, _flags, _addr = socket.recv_fds(control, 1 << 20, 2)
            if not data:
                return
            message = json.loads(data)
            if "prepare" in message:
                url = message["prepare"]
                if url in prepared:
                    prepared.pop(url).discard()
                while len(prepared) >= MAX_PREPARED:
                    prepared.pop(next(iter(prepared))).discard()
                prepared[url] = _Prepared(url, control, list(prepared.values()))
                continue
            results, output = fds
            _compile_checks(message)
            pid = None
            ready = prepared.pop(message["database_url"], None)
            if ready is not None and ready.hand_over(data, fds):
                pid = ready.pid
            if pid is None:
                gc.freeze()  # what the worker holds is never collected in a child: no copy-on-write for it
                pid = os.fork()
                if pid == 0:
                    _forget(prepared.values())
                    _child(message, results, output, control)
            os.close(results)
            os.close(output)
            started.add(pid)
            _send(control, {"started": pid})
    finally:
        for waiting in prepared.values():
            waiting.discard()


if __name__ == "__main__":
    try:
        serve(int(sys.argv[1]))
    except (BrokenPipeError, ConnectionResetError):
        pass  # the runner went away first; nothing to report to anyone
