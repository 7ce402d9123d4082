"""The parent side of grading: a fresh database, a child process with a time limit, results as data.

Nothing the learner's code does can hang or crash this side: the child runs in its own process
group with a deadline per check; on a timeout or crash the group is killed, the check is marked
``error``, and the remaining checks run in a new child on a clean database.

Nor is the child's word taken for its verdict: every event must carry the signature of the run's
key (which only the child was given) and its number in sequence, the checks it announces must be
the ones ``checks.py`` declares, and each check must start, then report once, in order. A report
that breaks any of this is ``error``: "the grader's report from your code was tampered with".
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import hmac
import json
import secrets
import signal
import threading
import time
from pathlib import Path
from typing import Protocol

from checker.judge import judged
from checker.process import sandbox
from checker.process.channel import sign
from checker.process.launch import Child, SpawnLauncher, WorkerGone, cold_launcher
from checker.results import STATUSES, TESTIMONY, CheckResult, ExerciseResult, Status
from checker.wire import Event, GradingJob, WireError

__all__ = ["TAMPERED", "Databases", "GradingJob", "Tampered", "declared_checks", "grade"]

OUTPUT_LIMIT = 20_000
"""Characters of the learner's own output kept for display."""
IMPORT_TIMEOUT_S = 20.0
"""Seconds for starting the child and importing the learner's modules."""
LINE_LIMIT = 32 << 20
"""Bytes of one line of the child's report: a longer line is garbage (or an attack), and ends the run."""
WATCH_INTERVAL_S = 0.2
"""How often a running check's database is measured against the bounds of one submission."""


TAMPERED = "the grader's report from your code was tampered with"


class Databases(Protocol):
    """What the runner needs from a database session (see ``course.postgres.session``)."""

    def create_database(self) -> str: ...
    def drop_database(self, name: str) -> None: ...
    def learner_params(self, database: str): ...


def grade(job: GradingJob, databases: Databases, *, cancelled=lambda: False, launcher=None) -> ExerciseResult:
    """Grade ``job`` on a fresh database of ``databases``; never raises for learner faults.

    ``launcher`` starts the grading child: a shared :class:`checker.process.launch.WarmWorker` for many
    runs (TUI, watch, --all, grade), or by default a fresh interpreter per run.
    """
    started = time.perf_counter()
    database = databases.create_database()
    launcher = launcher or cold_launcher()
    leftovers = _LEFTOVERS if getattr(launcher, "confinement", None) is None else None  # else its worker cleans
    if leftovers is not None:
        leftovers.enter()
    try:
        run = _Run(job, databases, database, cancelled, launcher)
        run.execute()
    finally:
        if leftovers is not None:
            leftovers.leave()
        databases.drop_database(database)
    result = ExerciseResult.combine(job.exercise, run.results(), time.perf_counter() - started, run.output)
    result.tampered = run.tampered
    return result


class _SharedMemoryLeftovers:
    """What runs of this process left in ``/dev/shm`` (as this user: a run confined as a uid of its
    own is cleaned by its worker): the entries that appeared while any run was going, removed
    when the last of them ends (Postgres's own segments kept; see ``sandbox.remove_shared_memory``)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._active = 0
        self._before: set[str] = set()

    def enter(self) -> None:
        with self._lock:
            if self._active == 0:
                self._before = sandbox.shared_memory_entries()
            self._active += 1

    def leave(self) -> None:
        with self._lock:
            self._active -= 1
            if self._active == 0:
                sandbox.remove_shared_memory(sandbox.shared_memory_entries() - self._before)


_LEFTOVERS = _SharedMemoryLeftovers()


@functools.lru_cache(maxsize=64)
def _declared(checks_file: str, _stamp: tuple[int, int]) -> tuple[str, ...] | None:
    try:
        tree = ast.parse(Path(checks_file).read_bytes())
    except (OSError, SyntaxError, ValueError):
        return None
    names = []
    for node in tree.body:
        for decorator in getattr(node, "decorator_list", []):
            call = decorator if isinstance(decorator, ast.Call) else None
            func = call.func if call else decorator
            if (getattr(func, "id", None) or getattr(func, "attr", None)) != "check":
                continue
            if not call or not call.args or not isinstance(call.args[0], ast.Constant) or not isinstance(call.args[0].value, str):
                return None  # a name made at run time: nothing to compare with
            names.append(call.args[0].value)
    return tuple(names)


def declared_checks(checks_file: Path) -> tuple[str, ...] | None:
    """The names of the checks ``checks_file`` declares, in order, read from its source (the
    runner never imports it); None when they cannot be read that way."""
    try:
        stat = checks_file.stat()
    except OSError:
        return None
    return _declared(str(checks_file), (stat.st_mtime_ns, stat.st_size))


class Tampered(Exception):
    """The child's report broke the protocol: its verdict is not believed."""


class _Run:
    def __init__(self, job: GradingJob, databases: Databases, database: str, cancelled, launcher):
        self.job = job
        self.launcher = launcher
        self.databases = databases
        self.database = database
        self.cancelled = cancelled
        self.declared: list[dict] = []
        self.finished: dict[str, CheckResult] = {}
        self.fatal: tuple[Status, str] | None = None  # (status, message) for every check not run
        self.output = ""
        self.tampered = ""
        """Why the report was not believed ("" when it was)."""

    # -- the loop: one child, or several when one had to be killed ---------------------------

    def execute(self) -> None:
        remaining: list[str] = []
        for _attempt in range(50):
            self._child(remaining)
            if self.fatal or self.tampered or not self.declared:  # a report not believed: no second child
                return
            remaining = [c["name"] for c in self.declared if c["name"] not in self.finished]
            if not remaining or self.cancelled():
                return

    def results(self) -> list[CheckResult]:
        if self.tampered:
            message = f"{TAMPERED}: {self.tampered}. No result of this run counts."
            names = [(c["name"], c["title"]) for c in self.declared] or [(ExerciseResult.RUN, "Run your code")]
            return [CheckResult.not_run(name, message, title=title) for name, title in names]
        if not self.declared:
            status, message = self.fatal or (Status.ERROR, "the grader reported no checks")
            return [CheckResult.not_run(ExerciseResult.RUN, message, title="Run your code", status=status)]
        results = []
        for declared in self.declared:
            name = declared["name"]
            if name in self.finished:
                results.append(self.finished[name])
            else:
                status, message = self.fatal or (Status.ERROR, "not run (cancelled)")
                results.append(CheckResult(name, status, message, title=declared["title"]))
        return results

    def _child(self, only: list[str]) -> None:
        job = dataclasses.replace(self.job, only=tuple(only) or self.job.only)
        key = secrets.token_bytes(32)
        secret = {"database_url": self.databases.learner_params(self.database).sqlalchemy_url(), "key": key.hex()}
        statement_log = getattr(getattr(self.databases, "server", None), "statement_log", None)
        if statement_log is not None:  # what Postgres received, for the judge (checker.judge.serverlog)
            secret["statement_log"] = str(statement_log)
        judge = getattr(self.databases, "judge_params", lambda _database: None)(self.database)
        if judge is not None and not isinstance(self.launcher, SpawnLauncher) and judged(self.job.checks_file):
            # the judge's own role (course.postgres.session): only to a run judged apart, where the
            # judge reads the secret after its witness is forked; never where acts run in-process
            secret["judge_url"] = judge.sqlalchemy_url()
        launcher = self.launcher
        try:
            child = launcher.launch(job, secret, database=self.database)
        except WorkerGone:  # the warm worker is gone (or frozen): a cold one of our own
            launcher = cold_launcher(confinement=getattr(self.launcher, "confinement", None))
            child = launcher.launch(job, secret, database=self.database)
        ended = False
        try:
            ended = self._read_events(child, key, list(job.only), judges=not isinstance(launcher, SpawnLauncher))
        except Tampered as why:
            self.tampered = str(why)
        finally:
            if ended:
                child.release()  # its report is whole: a spawned interpreter may serve the submission's next run
            else:
                child.kill()
            confinement = getattr(launcher, "confinement", None)
            if confinement is not None and not confinement.namespaces:
                # its worker reports the exit once every process of the run's uid is killed and its
                # files in the shared temp folders are removed: the run is over only then
                child.returncode()
            child.output.seek(0)
            text = child.output.read(OUTPUT_LIMIT + 1).decode("utf-8", errors="replace")
            if len(text) > OUTPUT_LIMIT:
                text = text[:OUTPUT_LIMIT] + "\n… (output truncated)"
            self.output += text
            child.close()

    def _read_events(self, child: Child, key: bytes, only: list[str], judges: bool = True) -> bool:
        """Read the child's report until it ends, its deadline passes or a bound is crossed;
        True when it ended with its last event (``done``).

        Bounded whatever the child writes: the deadline is checked on every pass, not only when
        the pipe is quiet (an endless stream without a newline cannot hold it off), each byte is
        scanned for a newline once (linear work), and a line longer than :data:`LINE_LIMIT` ends
        the run as tampering."""
        buffer = bytearray()
        protocol = _Protocol(key, self.job.checks_file, only, self.finished, judges=judges)
        current: str | None = None
        deadline = time.monotonic() + IMPORT_TIMEOUT_S
        watched = time.monotonic()
        while True:
            if self.cancelled():
                self._stop(current, Status.ERROR, "cancelled")
                return False
            now = time.monotonic()
            if now >= deadline:
                self._stop(current, Status.ERROR, _timeout_message(current, self._limit(current)))
                return False
            if now - watched >= WATCH_INTERVAL_S:
                watched = now
                if (crossed := self._bound_crossed()) is not None:
                    child.kill()
                    self._stop(current, Status.ERROR, crossed)
                    self.fatal = (Status.ERROR, crossed)
                    return False
            chunk = child.read(min(WATCH_INTERVAL_S, max(0.0, deadline - now)))
            if chunk is None:
                continue
            if not chunk:  # the child is gone
                if buffer:
                    raise Tampered("the report ends in the middle of a line")
                if current is not None or not self.declared or not self._all_done():
                    alive = getattr(self.databases, "server_alive", lambda: True)()
                    self._stop(current, Status.ERROR, _crash_message(child.returncode(), current, not alive))
                return False
            scanned = len(buffer)
            buffer += chunk
            while (end := buffer.find(b"\n", scanned)) >= 0:
                line = bytes(buffer[:end])
                del buffer[: end + 1]
                scanned = 0
                kind, event = protocol.read(line)
                if kind is Event.CHECKS:
                    self.declared = self.declared or event["checks"]
                elif kind is Event.START:
                    current = event["name"]
                    deadline = time.monotonic() + self._limit(current)
                elif kind is Event.RESULT:
                    self.finished[event["name"]] = protocol.result(event)
                    current = None
                    deadline = time.monotonic() + IMPORT_TIMEOUT_S
                elif kind is Event.IMPORT_ERROR:
                    self.fatal = (Status.ERROR, f"cannot import {event['module']}.py:\n{event['message']}")
                    return False
                elif kind is Event.GRADER_ERROR:
                    self.fatal = (Status.ERROR, event["message"])
                    return False
                elif kind is Event.TAMPERED:
                    raise Tampered(event["message"])
                elif kind is Event.DONE:
                    return True
            if len(buffer) > LINE_LIMIT:
                raise Tampered(f"a line of the report is longer than {LINE_LIMIT >> 20} MiB")

    def _bound_crossed(self) -> str | None:
        """Why the run's database is past a bound of one submission (its size, its locks), its
        connections ended; None when it is within them (or the session cannot tell)."""
        check = getattr(self.databases, "bound_crossed", None)
        if check is None:
            return None
        try:
            return check(self.database)
        except Exception:  # the watch is a guard, never a reason to fail a run
            return None

    def _all_done(self) -> bool:
        return all(c["name"] in self.finished for c in self.declared)

    def _limit(self, check: str | None) -> float:
        if check is None:
            return IMPORT_TIMEOUT_S
        declared = next((c for c in self.declared if c["name"] == check), {})
        return float(declared.get("timeout") or self.job.check_timeout_s)

    def _stop(self, current: str | None, status: Status, message: str) -> None:
        if current is not None:
            title = next((c["title"] for c in self.declared if c["name"] == current), current)
            self.finished[current] = CheckResult(current, status, message, title=title)
        else:
            self.fatal = (status, message)


def _timeout_message(check: str | None, limit: float) -> str:
    if check is None:
        return (
            f"your code did not finish importing within {limit:.0f} s: look for a loop or a blocking "
            "call at module level (code outside functions runs on import)"
        )
    return (
        f"timed out after {limit:.0f} s: your code may loop forever, wait for input, "
        "or wait on a lock held by an open transaction (close your sessions)"
    )


def _crash_message(returncode: int | None, check: str | None, server_died: bool = False) -> str:
    when = "while running this check" if check else "before the checks could run"
    if server_died:
        return f"the Postgres server stopped {when} (not your code's doing); the server was restarted: check again"
    if returncode is not None and returncode < 0:
        name = signal.Signals(-returncode).name if -returncode in signal.Signals._value2member_map_ else str(-returncode)
        return f"the process running your code was killed by {name} {when} (a crash, or a memory limit)"
    return (
        f"the process running your code exited with code {returncode} {when}: "
        "do not call sys.exit() or os._exit() in exercise code"
    )


class _Protocol:
    """Checks each line of a child's report: signed with the run's key, numbered in sequence,
    of a kind :class:`checker.wire.Event` names, and in the order the protocol allows (the checks
    of ``checks.py``, each started, then reported once). Raises :class:`Tampered` otherwise."""

    def __init__(self, key: bytes, checks_file: Path, only: list[str], finished: dict, *, judges: bool = True):
        self.key = key
        self.number = 0
        declared = declared_checks(checks_file)
        self.expected = None if declared is None else [n for n in declared if not only or n in only]
        self.pending: list[str | None] = []
        self.current: str | None = None
        self.finished = finished
        self.over = False
        self.judged = judges and judged(checks_file)
        """Whether a judge apart from the learner's code ran the checks (``checker.judge``): the
        checks declare acts, and the launcher forks judges (the portable way, spawned
        interpreters, runs the acts beside the learner's code)."""

    def read(self, line: bytes) -> tuple[Event, dict]:
        """The event of ``line``: its kind, and the rest of it."""
        signature, _, payload = line.partition(b" ")
        if not hmac.compare_digest(signature.decode("ascii", "replace"), sign(self.key, self.number, payload)):
            raise Tampered(f"line {self.number + 1} of the report does not carry the run's signature")
        try:
            event = json.loads(payload)
        except ValueError:
            raise Tampered(f"line {self.number + 1} of the report is not JSON") from None
        if not isinstance(event, dict) or event.pop("n", None) != self.number or not _is_kind(event.get("type")):
            raise Tampered(f"line {self.number + 1} of the report is out of sequence")
        self.number += 1
        kind = Event(event.pop("type"))
        self._follow(kind, event)
        return kind, event

    def result(self, event: dict) -> CheckResult:
        """The check result a ``result`` event carries."""
        try:
            result = CheckResult.from_json(event)
        except WireError as why:
            raise Tampered(f"line {self.number} of the report is not a check result ({why})") from None
        if not self.judged:  # the checks ran beside the learner's code: its word, whatever it says
            result.evidence = TESTIMONY
        return result

    def _follow(self, kind: Event, event: dict) -> None:
        if self.over:
            raise Tampered(f"the report goes on after it ended ({kind})")
        if kind is Event.CHECKS:
            names = [c.get("name") for c in event.get("checks", []) if isinstance(c, dict)]
            if self.number != 1 or (self.expected is not None and names != self.expected):
                raise Tampered("the checks reported are not the checks of this exercise")
            self.pending = list(names)
        elif kind is Event.START:
            name = event.get("name")
            if self.current is not None or not self.pending or name != self.pending[0]:
                raise Tampered(f"check {name!r} started out of order")
            self.current = self.pending.pop(0)
        elif kind is Event.RESULT:
            name = event.get("name")
            if name != self.current or name in self.finished or event.get("status") not in STATUSES:
                raise Tampered(f"a result for check {name!r} came out of turn")
            self.current = None
        elif kind is Event.DONE:
            if self.pending or self.current is not None:
                raise Tampered("the report ended before every check had reported")
        self.over = kind.ends


_KINDS = frozenset(kind.value for kind in Event)


def _is_kind(value: object) -> bool:
    return isinstance(value, str) and value in _KINDS
