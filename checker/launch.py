"""Starting the grading child: a fresh ``python -m checker.harness`` (cold), or a fork of the
warm worker (``checker.warm``). Both give the runner the same :class:`Child`."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO


@dataclass
class Child:
    """A running grading child: where its results arrive and how to end it."""

    pid: int
    results_fd: int
    """Read end of the results pipe: EOF once the child and all it started are gone."""
    output: IO[bytes]
    """What the learner's code printed."""
    _returncode: callable = field(repr=False, default=None)

    def returncode(self) -> int | None:
        return self._returncode()

    def kill(self) -> None:
        """Kill the child's whole process group (threads die with it; forks share the group)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.results_fd)
        self.output.close()


def child_environment() -> dict[str, str]:
    """The learner's environment: ours minus the runner's settings, plus our package on the path."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("COURSE_")}
    here = str(Path(__file__).resolve().parent.parent)
    existing = os.environ.get("PYTHONPATH")
    env["PYTHONPATH"] = here + (os.pathsep + existing if existing else "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


class SubprocessLauncher:
    """Cold path: a new interpreter per run (pays the imports every time; works everywhere)."""

    def launch(self, job: dict, cwd: Path) -> Child:
        read_fd, write_fd = os.pipe()
        output = tempfile.TemporaryFile()
        process = subprocess.Popen(
            [sys.executable, "-m", "checker.harness"],
            stdin=subprocess.PIPE, stdout=output, stderr=subprocess.STDOUT,
            pass_fds=(write_fd,), start_new_session=True, cwd=cwd, env=child_environment(),
        )
        os.close(write_fd)
        with contextlib.suppress(BrokenPipeError):
            process.stdin.write(json.dumps({**job, "results_fd": write_fd}).encode())
            process.stdin.close()
        return Child(process.pid, read_fd, output, lambda: process.wait())

    def close(self) -> None:
        pass


class WarmWorker:
    """Warm path: forks of a worker that has already imported SQLAlchemy, psycopg, Alembic, FastAPI.

    Start it early (it imports while Postgres starts); ``launch`` waits until it is ready.
    Thread-safe: several runs may launch at once (``course grade --jobs``).
    """

    READY_TIMEOUT_S = 60.0

    def __init__(self):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._socket = ours
        self._process = subprocess.Popen(
            [sys.executable, "-m", "checker.warm", str(theirs.fileno())],
            pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True, env=child_environment(),
        )
        theirs.close()
        self._lock = threading.Lock()
        self._statuses: dict[int, int] = {}
        self._started: list[int] = []
        self._ready = False

    def _receive(self, timeout: float) -> bool:
        """Read one message (caller holds the lock); False on timeout."""
        self._socket.settimeout(timeout)
        try:
            data = self._socket.recv(65536)
        except TimeoutError:
            return False
        except OSError as error:
            raise RuntimeError(f"the warm grading worker is gone ({error})") from None
        if not data:
            raise RuntimeError("the warm grading worker exited")
        message = json.loads(data)
        if "ready" in message:
            self._ready = True
        elif "started" in message:
            self._started.append(message["started"])
        elif "exited" in message:
            self._statuses[message["exited"]] = message["status"]
        return True

    def launch(self, job: dict, cwd: Path) -> Child:
        read_fd, write_fd = os.pipe()
        output = tempfile.TemporaryFile()
        try:
            with self._lock:
                self._await_ready()
                try:
                    socket.send_fds(self._socket, [json.dumps(job).encode()], [write_fd, output.fileno()])
                except OSError as error:
                    raise RuntimeError(f"the warm grading worker is gone ({error})") from None
                while not self._started:
                    self._receive(5.0)
                pid = self._started.pop(0)
        finally:
            os.close(write_fd)
        return Child(pid, read_fd, output, lambda: self._wait(pid))

    def _await_ready(self) -> None:
        """Wait until the worker has imported what every run needs (caller holds the lock)."""
        deadline = time.monotonic() + self.READY_TIMEOUT_S
        while not self._ready:
            if time.monotonic() > deadline or self._process.poll() is not None:
                raise RuntimeError("the warm grading worker did not start")
            self._receive(0.5)

    def prepare(self, database_url: str) -> None:
        """Have a child ready for a run on ``database_url``: forked and connected ahead of time
        (called from a background thread: it may wait for the worker to be ready)."""
        with self._lock:
            try:
                self._await_ready()
                self._socket.send(json.dumps({"prepare": database_url}).encode())
            except (OSError, RuntimeError):
                pass  # the worker is gone: the next launch says so, and falls back

    def _wait(self, pid: int, timeout: float = 5.0) -> int | None:
        deadline = time.monotonic() + timeout
        with self._lock:
            try:
                while pid not in self._statuses and time.monotonic() < deadline:
                    self._receive(0.1)
            except RuntimeError:
                return None
            return self._statuses.pop(pid, None)

    def close(self) -> None:
        """Stop the worker (its children are already gone: the runner killed their groups)."""
        with contextlib.suppress(OSError):
            self._socket.close()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def default_launcher(warm: bool = True):
    """A warm worker where ``fork`` exists, else plain subprocesses."""
    if warm and hasattr(os, "fork") and hasattr(socket, "send_fds"):
        try:
            return WarmWorker()
        except OSError:
            pass
    return SubprocessLauncher()
