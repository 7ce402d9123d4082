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
import secrets
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
    _release: Callable[[], None] | None = field(repr=False, default=None)

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

    def release(self) -> None:
        """The run's report ended (its last event came): a process that may serve another run
        is let go to do so; any other is killed (see :meth:`kill`)."""
        if self._release is None:
            self.kill()
        else:
            self._release()

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
    and whether it has said it is ready (its imports done). Once it has served a run it belongs to
    that run's submission (``submission``) and may serve only its other runs."""

    def __init__(self, process: subprocess.Popen, family: frozenset[str] = frozenset()):
        self.process = process
        self.family = family
        self.submission: str | None = None
        self.settling = False
        """Its run is over and it is putting back what the run changed."""
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


def submission_of(job: GradingJob) -> str:
    """The submission a run is part of: the folder that holds ``<module>/<exercise>`` in the run's
    path (a learner's workspace, a student's submission in a class run, the course's own
    solutions), else the exercise's folder itself. A spawned interpreter serves one submission."""
    parts = job.learner_dir.parts
    pair = tuple(job.exercise.split("/"))
    for start in range(len(parts) - len(pair), 0, -1):
        if parts[start : start + len(pair)] == pair:
            return str(Path(*parts[:start]))
    return str(job.learner_dir)


class _FramedReader(_ThreadReader):
    """One run's report off an interpreter that may serve another run: read in a thread up to the
    line that ends the run (``NUL <end> again|gone``, see ``checker.process.spawned``), which the
    runner never sees (it reads EOF there), or to EOF. The descriptor stays open, unread past it."""

    def __init__(self, fd: int, end: str):
        self.outcome = ""
        """``again`` (the interpreter waits for the next run), else it is gone or going."""
        self.why = ""
        """Why it is not reused, as it says (or "")."""
        self.ended = threading.Event()
        self._end = b"\0" + end.encode() + b" "
        super().__init__(fd)

    def _pump(self, fd: int) -> None:
        held = b""  # the start of what may be the end line
        at_line_start = True
        try:
            while True:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    if held:
                        self._chunks.put(held)
                    return
                data, held = held + chunk, b""
                found = self._find_end(data, at_line_start)
                if found < 0:
                    tail = data.rfind(b"\n") + 1 if b"\n" in data else (0 if at_line_start else len(data))
                    if self._end.startswith(data[tail : tail + len(self._end)]) and tail < len(data):
                        data, held = data[:tail], data[tail:]
                    if data:
                        self._chunks.put(data)
                        at_line_start = data.endswith(b"\n")
                    continue
                if found:
                    self._chunks.put(data[:found])
                line_end = data.find(b"\n", found)
                if line_end < 0 and len(data) - found < len(self._end) + 256:
                    held = data[found:]
                    at_line_start = True
                    continue
                word = data[found + len(self._end) : line_end] if line_end >= 0 else b""
                clean = word == b"again" and line_end == len(data) - 1  # nothing written past it
                self.outcome = "again" if clean else "gone"
                self.why = "" if clean else word.decode("utf-8", "replace").removeprefix("gone ")
                return
        finally:
            self._chunks.put(b"")
            self.ended.set()

    def _find_end(self, data: bytes, at_line_start: bool) -> int:
        start = 0
        while (found := data.find(self._end, start)) >= 0:
            if (found == 0 and at_line_start) or (found > 0 and data[found - 1] == 0x0A):
                return found
            start = found + 1
        return -1


class SpawnLauncher:
    """The portable way (no fork): each run is an interpreter (``checker.process.spawned``) that has
    done its imports ahead, while nobody waited.

    An interpreter serves the runs of one submission only (:func:`submission_of`): once a run has
    ended with its whole report, the interpreter puts back what the run changed and, if nothing is
    left that a fresh one would not have (``checker.process.reuse``), takes that submission's
    next run; otherwise, or past ``REUSE_LIMIT`` runs, it exits. A run that times out, is
    cancelled or whose report is not believed ends its interpreter.

    How many are started, and when (``warm``):

    - ``queued``: how many runs this launcher is for (``check --all``, a class run). As many
      interpreters as runs go at once (``parallel``) start at once, in parallel (while Postgres
      starts, on a cold path); another starts whenever one is taken and queued runs of a
      submission that has no interpreter yet are left; none is kept beyond the queue.
    - Otherwise (the app, ``watch``, the service) ``parallel`` are kept ready between runs, beside
      those that served the same learner's runs before. The service announces each request's runs
      (:meth:`expecting`).

    An interpreter meant for a run whose checks use FastAPI or Alembic imports that family ahead
    too (``checker.process.spawned.families``); a run takes one that has what it needs if one
    is ready, else any ready one (it imports the rest itself, and keeps it for the next run).
    """

    SPARES = 2
    MAX_SPARES = 8
    """Interpreters ready or starting at most (each holds 40-70 MB, PSS, once its imports are done)."""
    READY_TIMEOUT_S = 60.0
    SETTLE_TIMEOUT_S = 5.0
    """How long an interpreter may take to put back what a run changed before it is ended."""
    REUSE_WAIT_S = 1.0
    """How long a run waits for its submission's interpreter to be back (putting back takes tens of
    milliseconds) before it takes a fresh one."""

    def __init__(
        self,
        *,
        warm: bool = True,
        clean_environment: bool = False,
        queued: int | list[str | None] | None = None,
        parallel: int = SPARES,
        families: frozenset[str] | None = None,
    ):
        """``families``: what this launcher's runs may import beyond the base (``FAMILIES``; all of
        them when not said): its interpreters import it ahead, as each may serve several runs."""
        self.warm = warm
        self.confinement = None  # OS-level confinement needs Linux and root: not this way
        self._environment = child_environment(clean_environment)
        self._lock = threading.Condition()
        self._spares: list[_Spare] = []
        self._starting: list[frozenset[str]] = []  # families of the interpreters being started
        self._queue: list[tuple[frozenset[str], str | None]] = []  # (families, submission) of runs announced, not launched
        self._idle: list[_Spare] = []  # served a run, put back, waiting for their submission's next
        self._busy: list[_Spare] = []  # running a run, or putting back after it
        self._running = 0
        self._batches = 0
        self._parallel = max(1, min(parallel, self.MAX_SPARES))
        self._in_turns = False
        if families is None:
            from checker.process.spawned import FAMILIES

            families = frozenset(FAMILIES)
        self._families = families
        self._kept = [families] * self._parallel if queued is None else []  # ready between runs
        self._closed = False
        if warm:
            if queued is None:
                self._top_up(self._kept)
            else:
                self.expect(queued)

    @property
    def reuses(self) -> bool:
        """Whether an interpreter may serve several runs of one submission (a warm pool's may)."""
        return self.warm

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

    def expect(self, jobs: list[GradingJob] | list[str | None] | int) -> None:
        """These runs (or runs of these submissions, or this many) are about to be launched: start
        interpreters for those that will go at once and that no interpreter of their submission
        will serve."""
        from checker.process.spawned import families_of

        runs: list = [None] * jobs if isinstance(jobs, int) else list(jobs)
        known = [run for run in runs if not (run is None or isinstance(run, str))]
        # one interpreter may serve all of a request's runs: each imports what any of them needs
        needed = families_of(job.checks_file for job in known) if known else self._families
        wanted = [(self._families, run) if run is None or isinstance(run, str) else (needed, submission_of(run)) for run in runs]
        if not self.warm or not wanted:
            return
        with self._lock:
            self._queue += wanted
        self._top_up(self._wanted())

    def _wanted(self) -> list[frozenset[str]]:
        """The families of the fresh interpreters the queue's next runs need: as many runs as go
        at once, less those an interpreter of their submission will take."""
        with self._lock:
            serving = {spare.submission for spare in self._idle + self._busy}
            lanes: dict[str, list[frozenset[str]]] = {}  # a submission's runs that may go at once
            for family, submission in self._queue:
                if submission is not None and submission not in serving:
                    runs = lanes.setdefault(submission, [])
                    if len(runs) < (1 if self._in_turns else self._parallel):
                        runs.append(family)
            unserved = [family for runs in lanes.values() for family in runs]
            unknown = [family for family, submission in self._queue if submission is None]  # a count of runs
            room = max(0, self._parallel - len(serving) - len(unserved))
            return (unserved + unknown[:room])[: self._parallel]

    def in_turns(self) -> None:
        """Each submission's runs will go one after the other (a class run): one interpreter for
        each is enough."""
        with self._lock:
            self._in_turns = True

    def _top_up(self, desired: list[frozenset[str]]) -> None:
        """Start the interpreters of ``desired`` (families) that are neither ready nor starting."""
        from collections import Counter

        with self._lock:
            if self._closed:
                return
            have = Counter(spare.family for spare in self._spares) + Counter(self._starting)
            missing = list((Counter(desired) - have).elements())
            room = max(0, self.MAX_SPARES - len(self._spares) - len(self._starting) - len(self._idle) - len(self._busy))
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
                    self._lock.notify_all()
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

    def _take(self, family: frozenset[str], submission: str) -> _Spare:
        """An interpreter for the next run: one that served this submission and is back (or soon
        back), else a ready one with the ``family`` it needs, else any ready one, else one still
        starting, else a new one."""
        deadline = time.monotonic() + self.REUSE_WAIT_S
        with self._lock:
            while True:
                ours = [s for s in self._idle if s.submission == submission]
                putting_back = any(s.submission == submission and s.settling for s in self._busy)
                if ours or not putting_back or time.monotonic() >= deadline:
                    break
                self._lock.wait(0.05)
            spare: _Spare | None
            if ours:
                spare = min(ours, key=lambda s: (not family <= s.family, len(s.family)))
                self._idle.remove(spare)
            else:
                dead = [s for s in self._spares if s.ready.is_set() and not s.ok]
                for gone in dead:
                    self._spares.remove(gone)
                    threading.Thread(target=_discard, args=(gone,), daemon=True).start()
                ready = [s for s in self._spares if s.ready.is_set() and s.ok]
                starting = [s for s in self._spares if not s.ready.is_set()]
                fitting = (
                    [s for s in ready if family <= s.family] or ready or [s for s in starting if family <= s.family] or starting
                )
                spare = min(fitting, key=lambda s: len(s.family)) if fitting else None
                if spare is not None:
                    self._spares.remove(spare)
            self._unqueue(family, submission)
            self._running += 1
            # idle interpreters of submissions with no run left in the queue are done with
            queued = {s for _f, s in self._queue}
            done = [s for s in self._idle if s.submission not in queued and s.submission != submission] if self._queue else []
            for gone in done:
                self._idle.remove(gone)
        for gone in done:
            threading.Thread(target=_discard, args=(gone,), daemon=True).start()
        if spare is None or spare.process.poll() is not None:
            if spare is not None:
                _discard(spare)
            spare = self._start(family)
        with self._lock:
            spare.submission = submission if self.warm else None
            self._busy.append(spare)
        if self.warm:
            with self._lock:
                stream = not self._queue and self._running > 1  # runs at once, none announced: keep spares coming
            self._top_up(self._wanted() if not stream else self._kept)
        return spare

    def _unqueue(self, family: frozenset[str], submission: str) -> None:
        for index, (queued_family, queued_submission) in enumerate(self._queue):
            if family <= queued_family and queued_submission in (submission, None):
                del self._queue[index]
                return
        if self._queue:
            self._queue.pop(0)

    def _ended(self, spare: _Spare, again: bool) -> None:
        """A run is over: its interpreter waits for the submission's next run (``again``) or is
        ended; once none is in flight and none queued, refill to what is kept."""
        with self._lock:
            self._running -= 1
            spare.settling = False  # under the lock: a run taking an interpreter sees it back or gone
            keep = again and not self._closed and (self._queue or self._kept)
            if keep:
                self._busy.remove(spare)
                self._idle.append(spare)
                others = [s for s in self._idle if s.submission != spare.submission]
                excess = others[: max(0, len(self._idle) - self._parallel)]
                for gone in excess:
                    self._idle.remove(gone)
            else:
                excess = [spare]
            self._lock.notify_all()
            idle = self._running == 0 and not self._queue
        for gone in excess:
            _discard(gone)
        with self._lock:  # ended: no longer waited for by close()
            if spare in self._busy:
                self._busy.remove(spare)
            self._lock.notify_all()
        if self.warm:
            self._top_up(self._kept if idle else self._wanted())

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
        spare = self._take(families(job.checks_file) if self.warm else BASE, submission_of(job))
        process = spare.process
        stdin, stdout = _ends(process)
        end = secrets.token_hex(16) if self.warm else ""
        run = _SpawnedRun(self, spare, path)
        try:
            stdin.write(
                json.dumps({"job": job.to_json(), "secret": secret, "output": path, **({"end": end} if end else {})}).encode()
                + b"\n"
            )
            stdin.flush()
            if not end:
                stdin.close()
        except OSError as error:
            run.failed()
            raise WorkerGone(f"the grading process did not start ({error})") from None
        if not spare.ready.wait(self.READY_TIMEOUT_S) or not spare.ok:  # its ready line is not the report's
            run.failed()
            raise WorkerGone("the grading process did not start")
        spare.family |= families(job.checks_file)  # what the run imported, it keeps
        output = open(path, "rb")  # noqa: SIM115 - the Child closes it
        if not end:
            results = os.dup(stdout.fileno())
            stdout.close()
            return Child(process.pid, results, output, lambda: _wait(process), run.closed)
        reader = _FramedReader(stdout.fileno(), end)
        run.reader = reader
        return Child(process.pid, -1, output, lambda: _wait(process), run.closed, reader, run.release)

    def close(self) -> None:
        """End every interpreter: those ready or idle now, those putting back after a run once
        they have (a few seconds at most)."""
        with self._lock:
            self._closed = True
            spares, self._spares = self._spares + self._idle, []
            self._idle = []
        for spare in spares:
            _discard(spare)
        deadline = time.monotonic() + self.SETTLE_TIMEOUT_S
        with self._lock:
            while self._busy and time.monotonic() < deadline:
                self._lock.wait(0.05)


class _SpawnedRun:
    """One run on a spawned interpreter: what happens to the interpreter and the output file once
    the runner is done with it."""

    def __init__(self, launcher: SpawnLauncher, spare: _Spare, output: str):
        self.launcher = launcher
        self.spare = spare
        self.output = output
        self.reader: _FramedReader | None = None
        self._lock = threading.Lock()
        self._parties = 2  # the runner (its copy of the output file) and the interpreter
        self._over = False

    def release(self) -> None:
        """The run's report ended: the interpreter finishes putting back (in the background) and,
        if it says it may, waits for its submission's next run."""
        self.spare.settling = True
        threading.Thread(target=self._settle, name="course-run-settle", daemon=True).start()

    def _settle(self) -> None:
        reader = self.reader
        again = reader is not None and reader.ended.wait(self.launcher.SETTLE_TIMEOUT_S) and reader.outcome == "again"
        if not again:
            kill_tree(self.spare.process.pid)
        self.over(again)

    def over(self, again: bool) -> None:
        """The interpreter is back (``again``) or ended: the launcher takes it back."""
        with self._lock:
            if self._over:
                return
            self._over = True
        if not again:
            with contextlib.suppress(OSError):
                _ends(self.spare.process)[0].close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.spare.process.wait(timeout=5)
        self.launcher._ended(self.spare, again)
        self._let_go()

    def failed(self) -> None:
        """The run did not start: the interpreter is ended, the output file removed."""
        self.over(again=False)
        self._let_go()

    def closed(self) -> None:
        """The runner is done with the run (it has read the output file)."""
        if self.reader is None:  # an interpreter for one run: it has ended, or ends now
            self.over(again=False)
        elif not self.spare.settling and not self._over:  # killed by the runner: its reader sees EOF
            threading.Thread(target=self._settle, name="course-run-settle", daemon=True).start()
        self._let_go()

    def _let_go(self) -> None:
        with self._lock:
            self._parties -= 1
            last = self._parties == 0
        if last:
            with contextlib.suppress(OSError):
                os.unlink(self.output)


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
    queued: int | list[str | None] | None = None,
    parallel: int = SpawnLauncher.SPARES,
    families: frozenset[str] | None = None,
) -> Launcher:
    """A warm worker where ``fork`` and descriptor passing exist (see ``checker.process.platform``), else
    a pool of spawned interpreters (``queued``: how many runs it is for, ``parallel``: how many go
    at once, ``families``: what they import, see :class:`SpawnLauncher`); ``warm=False``: a cold
    one per run."""
    if not platform.can_fork_workers():
        return SpawnLauncher(warm=warm, clean_environment=clean_environment, queued=queued, parallel=parallel, families=families)
    if warm:
        try:
            return WarmWorker(confinement=confinement, clean_environment=clean_environment)
        except OSError:
            pass
    return ColdLauncher(confinement=confinement, clean_environment=clean_environment)
