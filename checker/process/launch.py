"""Starting the grading child: always a fork of a worker process (``checker.process.warm``), which has
imported SQLAlchemy & co. ahead of time (warm) or imports nothing until the run (cold).

What crosses into a child, and how:

- the job (:class:`checker.wire.GradingJob` as JSON, no secret): which folder, which checks, which
  modules; beside it, what only this launch needs: the run's database (for a child prepared
  for it) and the confinement of a class-graded run;
- the run's secret — the learner role's database URL and the key that signs the child's report —
  on a pipe of its own, passed to the worker as a file descriptor that the worker never reads,
  so no password of any run ever sits in the worker's memory, which later children inherit;
- the results pipe and the output file, as file descriptors.

The worker runs no learner code; it is the subreaper of every child, kills what they leave behind
and, when confining (class grading as root), gives each child a uid of its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol

from checker.process import platform, sandbox

if TYPE_CHECKING:
    from checker.wire import GradingJob

SAFE_VARIABLES = ("PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TZ", "TERM", "SYSTEMROOT", "TMPDIR")
"""What a class-graded submission inherits of the grader's environment (no tokens, no keys)."""


@dataclass
class Child:
    """A running grading child: where its results arrive and how to end it."""

    pid: int
    results_fd: int
    """Read end of the results pipe: EOF once the child and all it started are gone."""
    output: IO[bytes]
    """What the learner's code printed."""
    _returncode: Callable[[], int | None] = field(repr=False, default=lambda: None)
    _closed: Callable[[], None] = field(repr=False, default=lambda: None)
    _reader: _ThreadReader | None = field(repr=False, default=None)

    def returncode(self) -> int | None:
        return self._returncode()

    def read(self, timeout: float) -> bytes | None:
        """The next bytes of the report: None when nothing came within ``timeout``, b"" at EOF."""
        if self._reader is None and platform.pipes_pollable():
            ready, _, _ = select.select([self.results_fd], [], [], timeout)
            return os.read(self.results_fd, 65536) if ready else None
        if self._reader is None:  # pipes cannot be polled everywhere: a thread reads instead
            self._reader = _ThreadReader(self.results_fd)
        return self._reader.read(timeout)

    def kill(self) -> None:
        """Kill the child and everything it started: its process group (threads die with it;
        forks share the group; the worker kills whatever left the group), or, the portable way,
        every process of its tree."""
        if platform.process_groups():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
            return
        kill_tree(self.pid)

    def close(self) -> None:
        if self._reader is None:
            with contextlib.suppress(OSError):
                os.close(self.results_fd)
        # else the reader's thread owns the descriptor and closes it at EOF (the kill above ends
        # the writers): closed here, its number could go to the next run's pipe while the thread
        # still reads it, and the thread would steal that run's report lines
        self.output.close()
        self._closed()


class _ThreadReader:
    """Reads a pipe in a thread where pipes cannot be polled (Windows); owns the descriptor from
    then on and closes it at EOF, so its number is never reused under the thread."""

    def __init__(self, fd: int):
        import queue

        self._chunks: queue.Queue[bytes] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, args=(fd,), name="course-results", daemon=True)
        self._thread.start()

    def _pump(self, fd: int) -> None:
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            self._chunks.put(chunk)
            if not chunk:
                with contextlib.suppress(OSError):
                    os.close(fd)
                return

    def read(self, timeout: float) -> bytes | None:
        import queue

        try:
            return self._chunks.get(timeout=timeout)
        except queue.Empty:
            return None


kill_tree = platform.kill_tree
"""Kill ``pid`` and all its descendants, without process groups (the portable way)."""


class Launcher(Protocol):
    """Starts grading children (see :class:`WarmWorker`)."""

    def launch(self, job: GradingJob, secret: dict, *, database: str = "") -> Child: ...
    def close(self) -> None: ...


def python_command(module: str, *args: str) -> list[str]:
    """``python -P -m module``: ``-P`` keeps the current folder (a clone of this repository, a
    learner's folder holding a ``checker.py``) from shadowing the installed packages."""
    return [sys.executable, "-P", "-m", module, *args]


def child_environment(clean: bool = False) -> dict[str, str]:
    """The learner's environment: ours minus the runner's settings (``clean``: only
    :data:`SAFE_VARIABLES`), plus our package on the path."""
    if clean:
        env = {key: os.environ[key] for key in SAFE_VARIABLES if key in os.environ}
    else:
        env = {key: value for key, value in os.environ.items() if not key.startswith("COURSE_")}
    here = str(Path(__file__).resolve().parent.parent)
    existing = None if clean else os.environ.get("PYTHONPATH")
    env["PYTHONPATH"] = here + (os.pathsep + existing if existing else "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _secret_pipe(secret: dict) -> int:
    """A pipe holding ``secret`` (JSON); the read end, for the child alone."""
    read_fd, write_fd = os.pipe()
    try:
        os.write(write_fd, json.dumps(secret).encode())  # far below a pipe's buffer
    finally:
        os.close(write_fd)
    return read_fd


class WorkerGone(RuntimeError):
    """The worker died or stopped answering: the run falls back to a cold worker of its own."""


class WarmWorker:
    """Forks of a worker that has already imported SQLAlchemy, psycopg, Alembic, FastAPI.

    Start it early (it imports while Postgres starts); ``launch`` waits until it is ready.
    Thread-safe: several runs may launch at once (``course grade --jobs``).

    ``warm=False``: the worker imports nothing ahead (a one-off run pays the imports once anyway).
    ``confinement``: confine every child (class grading as root, see ``checker.process.sandbox``).
    ``clean_environment``: children get only :data:`SAFE_VARIABLES` of our environment.
    """

    READY_TIMEOUT_S = 60.0
    ANSWER_TIMEOUT_S = 10.0

    def __init__(self, *, warm: bool = True, confinement: sandbox.Confinement | None = None, clean_environment: bool = False):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._socket = ours
        self.confinement = confinement
        args = [str(theirs.fileno())] + ([] if warm else ["--cold"]) + (["--confine"] if confinement else [])
        self._process = subprocess.Popen(
            python_command("checker.process.warm", *args),
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            env=child_environment(clean_environment),
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
            raise WorkerGone(f"the grading worker is gone ({error})") from None
        if not data:
            raise WorkerGone("the grading worker exited")
        message = json.loads(data)
        if "ready" in message:
            self._ready = True
        elif "started" in message:
            self._started.append(message["started"])
        elif "exited" in message:
            self._statuses[message["exited"]] = message["status"]
        return True

    def launch(self, job: GradingJob, secret: dict, *, database: str = "") -> Child:
        """Start a child for ``job`` on ``database``; ``secret`` (``database_url``, ``key``)
        goes to it alone."""
        read_fd, write_fd = os.pipe()
        secret_fd = _secret_pipe(secret)
        output = tempfile.TemporaryFile()
        confinement = None if self.confinement is None else self.confinement.for_checks(job.checks_file).to_json()
        message = {"job": job.to_json(), "database": database, "confinement": confinement}
        try:
            with self._lock:
                self._await_ready()
                try:
                    socket.send_fds(self._socket, [json.dumps(message).encode()], [write_fd, output.fileno(), secret_fd])
                except OSError as error:
                    raise WorkerGone(f"the grading worker is gone ({error})") from None
                deadline = time.monotonic() + self.ANSWER_TIMEOUT_S
                while not self._started:
                    if time.monotonic() > deadline:  # stopped (SIGSTOP) or stuck: do not wait forever
                        raise WorkerGone("the grading worker stopped answering")
                    self._receive(0.5)
                pid = self._started.pop(0)
        except BaseException:
            output.close()
            with contextlib.suppress(OSError):
                os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
            os.close(secret_fd)
        return Child(pid, read_fd, output, lambda: self._wait(pid))

    def _await_ready(self) -> None:
        """Wait until the worker has imported what every run needs (caller holds the lock)."""
        deadline = time.monotonic() + self.READY_TIMEOUT_S
        while not self._ready:
            if time.monotonic() > deadline or self._process.poll() is not None:
                raise WorkerGone("the grading worker did not start")
            self._receive(0.5)

    def prepare(self, database: str, database_url: str) -> None:
        """Have a child ready for a run on ``database``: forked and connected ahead of time
        (called from a background thread: it may wait for the worker to be ready)."""
        secret_fd = _secret_pipe({"database_url": database_url})
        try:
            with self._lock:
                self._await_ready()
                socket.send_fds(self._socket, [json.dumps({"prepare": database}).encode()], [secret_fd])
        except (OSError, RuntimeError):
            pass  # the worker is gone: the next launch says so, and falls back
        finally:
            os.close(secret_fd)

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
        """Stop the worker (it kills what its children left; their groups are gone already)."""
        with contextlib.suppress(OSError):
            self._socket.close()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


class ColdLauncher:
    """A worker of its own per run, importing nothing ahead: for one-off runs, and the fallback
    when a warm worker is gone (killed by learner code of the same user, for instance)."""

    def __init__(self, *, confinement: sandbox.Confinement | None = None, clean_environment: bool = False):
        self.confinement = confinement
        self.clean_environment = clean_environment

    def launch(self, job: GradingJob, secret: dict, *, database: str = "") -> Child:
        worker = WarmWorker(warm=False, confinement=self.confinement, clean_environment=self.clean_environment)
        try:
            child = worker.launch(job, secret, database=database)
        except BaseException:
            worker.close()
            raise
        child._closed = worker.close
        return child

    def close(self) -> None:
        pass


class _Spare:
    """A spawned interpreter, the families it imports ahead (``checker.process.spawned.FAMILIES``),
    and whether it has said it is ready (its imports done)."""

    def __init__(self, process: subprocess.Popen, family: frozenset[str] = frozenset()):
        self.process = process
        self.family = family
        self.ready = threading.Event()
        self.ok = False
        threading.Thread(target=self._await_ready, name="course-spare-ready", daemon=True).start()

    def _await_ready(self) -> None:
        from checker.process.spawned import READY

        try:
            self.ok = os.read(_ends(self.process)[1].fileno(), len(READY)) == READY
        except (OSError, WorkerGone):
            self.ok = False
        self.ready.set()


BASE: frozenset[str] = frozenset()
"""What every run imports (no family)."""


class SpawnLauncher:
    """The portable way (no fork): each run is a fresh interpreter (``checker.process.spawned``)
    that has done its imports ahead, while nobody waited; one that ran a job exits, and is never
    handed another.

    How many are started, and when (``warm``):

    - ``queued``: how many runs this launcher is for (``check --all``, a class run). Interpreters
      for them start at once, in parallel (while Postgres starts, on a cold path), up to
      ``MAX_SPARES``; another starts whenever one is taken and more runs are queued than are
      started; none is kept beyond the queue.
    - Otherwise (the app, ``watch``, the service) ``SPARES`` are kept ready between runs. The
      service announces each request's runs (:meth:`expecting`): theirs start at once, and as
      many as its largest request (up to ``MAX_SPARES``) are kept ready for the next one, made
      once the runs in flight have ended, so their imports never slow a run down.

    An interpreter meant for a run whose checks use FastAPI or Alembic imports that family ahead
    too (``checker.process.spawned.families``); a run takes one that has what it needs if one
    is ready, else any ready one (it imports the rest itself).
    """

    SPARES = 2
    MAX_SPARES = 8
    """Interpreters ready or starting at most (each holds 40-70 MB, PSS, once its imports are done)."""
    READY_TIMEOUT_S = 60.0

    def __init__(self, *, warm: bool = True, clean_environment: bool = False, queued: int | None = None):
        self.warm = warm
        self.confinement = None  # OS-level confinement needs Linux and root: not this way
        self._environment = child_environment(clean_environment)
        self._lock = threading.Lock()
        self._spares: list[_Spare] = []
        self._starting: list[frozenset[str]] = []  # families of the interpreters being started
        self._queue: list[frozenset[str]] = []  # families of the runs announced and not launched yet
        self._running = 0
        self._batches = 0
        self._kept = [BASE] * self.SPARES if queued is None else []  # ready between runs
        self._grows = queued is None  # a long-lived launcher keeps what its largest request needs
        self._closed = False
        if warm:
            if queued is None:
                self._top_up(self._kept)
            else:
                self.expect(queued)

    @property
    def _queued(self) -> int:
        return len(self._queue)

    @contextlib.contextmanager
    def expecting(self, jobs: list[GradingJob] | int):
        """Around a request of ``jobs`` (the service): see :meth:`expect`; at its end, the runs
        it did not launch (cancelled) are no longer waited for."""
        with self._lock:
            self._batches += 1
        self.expect(jobs)
        try:
            yield
        finally:
            with self._lock:
                self._batches -= 1
                if not self._batches:
                    self._queue.clear()
                idle = self._running == 0 and not self._queue
            if idle and self.warm:
                self._top_up(self._kept)

    def expect(self, jobs: list[GradingJob] | int) -> None:
        """These runs (or this many) are about to be launched: start interpreters for them now
        (not more than ``MAX_SPARES`` ready or starting)."""
        if isinstance(jobs, int):
            wanted = [BASE] * jobs
        else:
            from checker.process.spawned import families

            wanted = [families(job.checks_file) for job in jobs]
        if not self.warm or not wanted:
            return
        with self._lock:
            self._queue += wanted
            if self._grows and len(wanted) >= len(self._kept):
                self._kept = wanted[: self.MAX_SPARES]
            desired = self._queue[: self.MAX_SPARES]
        self._top_up(desired)

    def _top_up(self, desired: list[frozenset[str]]) -> None:
        """Start the interpreters of ``desired`` (families) that are neither ready nor starting."""
        from collections import Counter

        with self._lock:
            if self._closed:
                return
            have = Counter(spare.family for spare in self._spares) + Counter(self._starting)
            missing = list((Counter(desired) - have).elements())
            room = max(0, self.MAX_SPARES - len(self._spares) - len(self._starting))
            missing = missing[:room]
            self._starting += missing
        if missing:
            threading.Thread(target=self._start_some, args=(missing,), name="course-spares", daemon=True).start()

    def _start_some(self, families: list[frozenset[str]]) -> None:
        for family in families:
            try:
                spare: _Spare | None = self._start(family)
            except OSError:
                spare = None
            with self._lock:
                self._starting.remove(family)
                kept = spare is not None and not self._closed
                if spare is not None and kept:
                    self._spares.append(spare)
            if spare is not None and not kept:
                _discard(spare)

    def _start(self, family: frozenset[str] = BASE) -> _Spare:
        options = platform.detached()  # a Ctrl-C in the terminal reaches us, not the spare
        arguments = ["--warm", *(["--also", ",".join(sorted(family))] if family else [])] if self.warm else []
        process = subprocess.Popen(
            python_command("checker.process.spawned", *arguments),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=self._environment,
            **options,
        )
        return _Spare(process, family)

    def _take(self, family: frozenset[str]) -> _Spare:
        """An interpreter for the next run: a ready one with the ``family`` it needs, else any
        ready one, else one still starting, else a new one; the queue's next runs get theirs
        started now."""
        with self._lock:
            dead = [s for s in self._spares if s.ready.is_set() and not s.ok]
            for gone in dead:
                self._spares.remove(gone)
            ready = [s for s in self._spares if s.ready.is_set() and s.ok]
            starting = [s for s in self._spares if not s.ready.is_set()]
            fitting = [s for s in ready if family <= s.family] or ready or [s for s in starting if family <= s.family] or starting
            spare: _Spare | None = min(fitting, key=lambda s: len(s.family)) if fitting else None
            if spare is not None:
                self._spares.remove(spare)
            if family in self._queue:
                self._queue.remove(family)
            elif self._queue:
                self._queue.pop(0)
            self._running += 1
            # the queue's next runs; with none announced, runs at once (a stream of them) keep
            # their spares coming, and one run alone gets them after it has ended
            desired = self._queue[: self.MAX_SPARES] if self._queue else (self._kept if self._running > 1 else [])
        for gone in dead:
            _discard(gone)
        if spare is None or spare.process.poll() is not None:
            if spare is not None:
                _discard(spare)
            spare = self._start(family)
        if self.warm:
            self._top_up(desired)
        return spare

    def _ended(self) -> None:
        """A run is over: once none is in flight and none queued, refill to what is kept."""
        with self._lock:
            self._running -= 1
            idle = self._running == 0 and not self._queue
        if idle and self.warm:
            self._top_up(self._kept)

    def settle(self, timeout: float = 60.0) -> bool:
        """Wait until every spare kept between runs has done its imports (as they have by a
        learner's next save)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                spares, starting, kept = list(self._spares), list(self._starting), len(self._kept) if self.warm else 0
            if not starting and len(spares) >= kept and all(s.ready.is_set() for s in spares):
                return True
            time.sleep(0.02)
        return False

    def launch(self, job: GradingJob, secret: dict, *, database: str = "") -> Child:
        from checker.process.spawned import families

        descriptor, path = tempfile.mkstemp(prefix="course-output-")
        os.close(descriptor)
        spare = self._take(families(job.checks_file) if self.warm else BASE)
        process = spare.process
        stdin, stdout = _ends(process)
        ended = threading.Event()

        def end() -> None:
            if not ended.is_set():
                ended.set()
                self._ended()

        try:
            stdin.write(json.dumps({"job": job.to_json(), "secret": secret, "output": path}).encode() + b"\n")
            stdin.close()
        except OSError as error:
            _discard(spare)
            end()
            raise WorkerGone(f"the grading process did not start ({error})") from None
        if not spare.ready.wait(self.READY_TIMEOUT_S) or not spare.ok:  # its ready line is not the report's
            _discard(spare)
            end()
            raise WorkerGone("the grading process did not start")
        output = open(path, "rb")  # noqa: SIM115 - the Child closes it
        results = os.dup(stdout.fileno())
        stdout.close()

        def closed() -> None:
            with contextlib.suppress(OSError):
                os.unlink(path)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
            end()

        return Child(process.pid, results, output, lambda: _wait(process), closed)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            spares, self._spares = self._spares, []
        for spare in spares:
            _discard(spare)


def _wait(process: subprocess.Popen) -> int | None:
    try:
        return process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        return None


def _discard(spare: _Spare) -> None:
    """End an interpreter that was never handed a job: one still importing is killed (it has run
    nothing but our imports), a ready one reads EOF and exits."""
    process = spare.process
    stdin, stdout = _ends(process)
    if not spare.ready.is_set():
        with contextlib.suppress(OSError):
            process.kill()
    with contextlib.suppress(OSError):
        stdin.close()  # it reads EOF and exits
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        kill_tree(process.pid)
        process.wait()
    with contextlib.suppress(OSError):
        stdout.close()


def _ends(process: subprocess.Popen) -> tuple[IO[bytes], IO[bytes]]:
    """A spawned interpreter's standard input and output (always pipes: see ``SpawnLauncher._start``)."""
    if process.stdin is None or process.stdout is None:
        raise WorkerGone("the grading process was started without its pipes")
    return process.stdin, process.stdout


def cold_launcher(*, confinement: sandbox.Confinement | None = None, clean_environment: bool = False) -> Launcher:
    """A launcher for one run: a worker of its own where workers can fork, else a fresh process."""
    if platform.can_fork_workers():
        return ColdLauncher(confinement=confinement, clean_environment=clean_environment)
    return SpawnLauncher(warm=False, clean_environment=clean_environment)


def class_confinement(hidden: list[Path]) -> sandbox.Confinement | None:
    """The confinement of class grading: as root on Linux, each submission in a uid and mount
    namespace of its own with ``hidden`` (the other submissions, our state) out of sight."""
    if not sandbox.can_confine() or platform.portable():
        return None
    package_root = Path(__file__).resolve().parent.parent
    return sandbox.Confinement(
        hidden=tuple(str(p.resolve()) for p in hidden),
        needed=sandbox.interpreter_paths(package_root),
    )


def default_launcher(
    warm: bool = True,
    *,
    confinement: sandbox.Confinement | None = None,
    clean_environment: bool = False,
    queued: int | None = None,
) -> Launcher:
    """A warm worker where ``fork`` and descriptor passing exist (see ``checker.process.platform``), else
    a pool of spawned interpreters (``queued``: how many runs it is for, see
    :class:`SpawnLauncher`); ``warm=False``: a cold one per run."""
    if not platform.can_fork_workers():
        return SpawnLauncher(warm=warm, clean_environment=clean_environment, queued=queued)
    if warm:
        try:
            return WarmWorker(confinement=confinement, clean_environment=clean_environment)
        except OSError:
            pass
    return ColdLauncher(confinement=confinement, clean_environment=clean_environment)
