"""The grading service itself: one database session and one warm worker behind a socket.

Started by :func:`course.grading.service.start` (``course db start``) as
``python -m course.grading.server``; the protocol, the pid file and the client are in
:mod:`course.grading.service`.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import select
import signal
import socket
import threading
from typing import TYPE_CHECKING

from checker.process import platform
from course.grading.service import (
    PARALLEL,
    fingerprint,
    pid_path,
    pid_record,
    socket_path,
    write_pid_file,
)

if TYPE_CHECKING:
    from checker.wire import GradingJob


class Service:
    """Accepts requests on the socket and grades them with one session and one warm worker."""

    def __init__(self):
        from course.grading.session import GradingSession
        from course.postgres import embedded
        from course.postgres.session import DatabaseSession

        def databases() -> DatabaseSession:
            server = embedded.running_persistent()
            if server is None:
                raise SystemExit("course.grading.server: no shared server is running; start it with `course db start`")
            return DatabaseSession(server, spares=PARALLEL)

        self.grading = GradingSession.start(databases)  # the worker imports while the session opens
        self.fingerprint = fingerprint()
        self.stopping = threading.Event()
        path = socket_path()
        path.unlink(missing_ok=True)
        self.key = None
        if platform.unix_sockets():
            self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            old_mask = os.umask(0o177)  # the socket is ours alone
            try:
                self.listener.bind(str(path))
            finally:
                os.umask(old_mask)
        else:  # loopback TCP: anyone on the machine may connect, only who can read the key is served
            import secrets

            self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.listener.bind(("127.0.0.1", 0))
            self.key = secrets.token_hex(32)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                json.dump({"port": self.listener.getsockname()[1], "key": self.key}, handle)
        self.listener.listen(16)
        self.listener.settimeout(0.5)
        write_pid_file()

    def serve(self) -> None:
        threading.Thread(target=self._watch_server, name="course-server-watch", daemon=True).start()
        try:
            while not self.stopping.is_set():
                try:
                    conn, _ = self.listener.accept()
                except TimeoutError:
                    continue
                threading.Thread(target=self._handle, args=(conn,), daemon=True).start()
        finally:
            self.close()

    def close(self) -> None:
        self.listener.close()
        if (pid_record() or {}).get("pid") == os.getpid():
            socket_path().unlink(missing_ok=True)
            pid_path().unlink(missing_ok=True)
        self.grading.close()

    def _watch_server(self) -> None:
        """Stop when the shared server is gone (``course db stop``, or killed)."""
        from course.postgres import embedded

        while not self.stopping.wait(1.0):
            if embedded.running_persistent() is None:
                print("course.grading.server: the shared server is gone; stopping", flush=True)
                self.stopping.set()

    def _handle(self, conn: socket.socket) -> None:
        with contextlib.closing(conn):
            try:
                conn.settimeout(REQUEST_TIMEOUT_S)  # a deadline per read, and per send of an answer
                lines = conn.makefile("rb")
                if self.key is not None:
                    offered = str(json.loads(_bounded_line(lines)).get("key", ""))
                    if not hmac.compare_digest(offered, self.key):
                        return  # not one of our user's commands: no answer at all
                request = json.loads(_bounded_line(lines))
            except (OSError, ValueError, AttributeError):
                return
            if request.get("stop"):
                self.stopping.set()
                return
            if request.get("pid"):  # who answers on this socket (where there is no /proc to ask)
                self._send(conn, {"pid": os.getpid()})
                return
            if request.get("fingerprint") != self.fingerprint:
                self._send(
                    conn,
                    {
                        "error": (
                            "the grading service runs older code (started before an upgrade or an edit, or "
                            "from another environment); restart it with `course db stop && course db start`"
                        )
                    },
                )
                return
            if request.get("ping"):
                self._send(conn, {"pong": os.getpid()})
                return
            from checker.wire import GradingJob, WireError

            try:
                jobs = [GradingJob.from_json(job) for job in _list(request.get("jobs", []))]
            except WireError as why:  # every job is read before any is graded: none half-read
                self._send(conn, {"error": f"the grading service cannot read this request: {why}"})
                return
            try:
                self._grade(conn, jobs)
            except OSError:
                pass  # the client went away: its runs were cancelled

    def _grade(self, conn: socket.socket, jobs: list[GradingJob]) -> None:
        from concurrent.futures import ThreadPoolExecutor

        def gone() -> bool:
            if self.stopping.is_set():
                return True
            readable, _, _ = select.select([conn], [], [], 0)
            return bool(readable)  # the client sends nothing more: readable means it hung up

        def one(job: GradingJob):
            return self.grading.grade(job, cancelled=gone)

        with self.grading.expecting(jobs), ThreadPoolExecutor(max_workers=PARALLEL) as pool:
            for result in pool.map(one, jobs):
                self._send(conn, {"result": result.to_wire()})

    @staticmethod
    def _send(conn: socket.socket, message: dict) -> None:
        conn.sendall(json.dumps(message).encode() + b"\n")


REQUEST_LIMIT = 1 << 20
"""Bytes of one line of a request (a key, or the jobs of one command): a longer one is refused."""
REQUEST_TIMEOUT_S = 30.0
"""Seconds for each read of a request and each send of an answer: a client that stalls is dropped."""


def _bounded_line(lines) -> bytes:
    """One line of a request, at most :data:`REQUEST_LIMIT` bytes (ValueError past it)."""
    line = lines.readline(REQUEST_LIMIT + 1)
    if len(line) > REQUEST_LIMIT:
        raise ValueError("request line too long")
    return line or b"{}"


def _list(jobs: object) -> list:
    from checker.wire import WireError

    if not isinstance(jobs, list):
        raise WireError(f"'jobs' is a list of grading jobs, not {type(jobs).__name__}")
    return jobs


def main() -> None:
    for interrupt in platform.interrupt_signals():  # a Ctrl-C (Ctrl-Break) in the terminal that started us is not for us
        signal.signal(interrupt, signal.SIG_IGN)
    service = Service()
    signal.signal(signal.SIGTERM, lambda *_: service.stopping.set())
    print(f"course.grading.server: pid {os.getpid()} listening on {socket_path()}", flush=True)
    service.serve()


if __name__ == "__main__":
    main()
