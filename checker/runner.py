"""The parent side of grading: a fresh database, a subprocess with a time limit, results as data.

Nothing the learner's code does can hang or crash this side: the child runs in its own process
group with a deadline per check; on a timeout or crash the group is killed, the check is marked
``error``, and the remaining checks run in a new child on a clean database.
"""

from __future__ import annotations

import json
import os
import select
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from checker.launch import Child, SubprocessLauncher
from checker.results import CheckResult, ExerciseResult, StatementView

OUTPUT_LIMIT = 20_000
"""Characters of the learner's own output kept for display."""
IMPORT_TIMEOUT_S = 20.0
"""Seconds for starting the child and importing the learner's modules."""


class Databases(Protocol):
    """What the runner needs from a database session (see ``course.postgres.session``)."""

    def create_database(self) -> str: ...
    def drop_database(self, name: str) -> None: ...
    def learner_params(self, database: str): ...
    def admin_params(self, database: str): ...


@dataclass
class GradingJob:
    """One exercise to grade in one folder."""

    exercise: str
    """Full id, e.g. ``sqlalchemy-2/05-relationships``."""
    checks_file: Path
    learner_dir: Path
    modules: list[str]
    """Learner modules imported up front, in order (an import error fails every check at once)."""
    check_timeout_s: float = 10.0
    only: list[str] = field(default_factory=list)
    """Run only these checks (by name); all when empty."""

    def to_json(self) -> dict:
        return {**asdict(self), "checks_file": str(self.checks_file), "learner_dir": str(self.learner_dir)}

    @staticmethod
    def from_json(data: dict) -> GradingJob:
        return GradingJob(**{**data, "checks_file": Path(data["checks_file"]), "learner_dir": Path(data["learner_dir"])})


def grade(job: GradingJob, databases: Databases, *, cancelled=lambda: False, launcher=None) -> ExerciseResult:
    """Grade ``job`` on a fresh database of ``databases``; never raises for learner faults.

    ``launcher`` starts the grading child: a shared :class:`checker.launch.WarmWorker` for many
    runs (TUI, watch, --all, grade), or by default a fresh interpreter per run.
    """
    started = time.perf_counter()
    database = databases.create_database()
    try:
        run = _Run(job, databases, database, cancelled, launcher or SubprocessLauncher())
        run.execute()
    finally:
        databases.drop_database(database)
    return ExerciseResult.combine(job.exercise, run.results(), time.perf_counter() - started, run.output)


class _Run:
    def __init__(self, job: GradingJob, databases: Databases, database: str, cancelled, launcher):
        self.job = job
        self.launcher = launcher
        self.databases = databases
        self.database = database
        self.cancelled = cancelled
        self.declared: list[dict] = []
        self.finished: dict[str, CheckResult] = {}
        self.fatal: tuple[str, str] | None = None  # (status, message) for every check not run
        self.output = ""

    # -- the loop: one child, or several when one had to be killed ---------------------------

    def execute(self) -> None:
        remaining: list[str] = []
        for _attempt in range(50):
            self._child(remaining)
            if self.fatal or not self.declared:
                return
            remaining = [c["name"] for c in self.declared if c["name"] not in self.finished]
            if not remaining or self.cancelled():
                return

    def results(self) -> list[CheckResult]:
        if not self.declared:
            status, message = self.fatal or ("error", "the grader reported no checks")
            return [CheckResult("run", status, message, title="Run your code")]
        results = []
        for declared in self.declared:
            name = declared["name"]
            if name in self.finished:
                results.append(self.finished[name])
            else:
                status, message = self.fatal or ("error", "not run (cancelled)")
                results.append(CheckResult(name, status, message, title=declared["title"]))
        return results

    def _child(self, only: list[str]) -> None:
        job = {
            "learner_dir": str(self.job.learner_dir),
            "checks_file": str(self.job.checks_file),
            "modules": self.job.modules,
            "database_url": self.databases.learner_params(self.database).sqlalchemy_url(),
            "admin_url": self.databases.admin_params(self.database).sqlalchemy_url(),
            "only": only or self.job.only,
        }
        try:
            child = self.launcher.launch(job, self.job.learner_dir)
        except RuntimeError:  # the warm worker is gone: fall back to a fresh interpreter
            child = SubprocessLauncher().launch(job, self.job.learner_dir)
        try:
            self._read_events(child)
        finally:
            child.kill()
            child.output.seek(0)
            text = child.output.read(OUTPUT_LIMIT + 1).decode("utf-8", errors="replace")
            if len(text) > OUTPUT_LIMIT:
                text = text[:OUTPUT_LIMIT] + "\n… (output truncated)"
            self.output += text
            child.close()

    def _read_events(self, child: Child) -> None:
        read_fd = child.results_fd
        buffer = b""
        current: str | None = None
        deadline = time.monotonic() + IMPORT_TIMEOUT_S
        while True:
            if self.cancelled():
                self._stop(current, "error", "cancelled")
                return
            timeout = min(0.2, max(0.0, deadline - time.monotonic()))
            ready, _, _ = select.select([read_fd], [], [], timeout)
            if not ready:
                if time.monotonic() >= deadline:
                    limit = self._limit(current)
                    self._stop(current, "error", _timeout_message(current, limit))
                    return
                continue
            chunk = os.read(read_fd, 65536)
            if not chunk:  # the child is gone
                if current is not None or not self.declared or not self._all_done():
                    self._stop(current, "error", _crash_message(child.returncode(), current))
                return
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                event = json.loads(line)
                kind = event.pop("type")
                if kind == "checks":
                    self.declared = self.declared or event["checks"]
                elif kind == "start":
                    current = event["name"]
                    deadline = time.monotonic() + self._limit(current)
                elif kind == "result":
                    views = [StatementView(**view) for view in event.get("statements", [])]
                    self.finished[event["name"]] = CheckResult(**{**event, "statements": views})
                    current = None
                    deadline = time.monotonic() + IMPORT_TIMEOUT_S
                elif kind == "import-error":
                    self.fatal = ("error", f"cannot import {event['module']}.py:\n{event['message']}")
                    return
                elif kind == "grader-error":
                    self.fatal = ("error", event["message"])
                    return
                elif kind == "done":
                    return

    def _all_done(self) -> bool:
        return all(c["name"] in self.finished for c in self.declared)

    def _limit(self, check: str | None) -> float:
        if check is None:
            return IMPORT_TIMEOUT_S
        declared = next((c for c in self.declared if c["name"] == check), {})
        return float(declared.get("timeout") or self.job.check_timeout_s)

    def _stop(self, current: str | None, status: str, message: str) -> None:
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


def _crash_message(returncode: int | None, check: str | None) -> str:
    when = "while running this check" if check else "before the checks could run"
    if returncode is not None and returncode < 0:
        name = signal.Signals(-returncode).name if -returncode in signal.Signals._value2member_map_ else str(-returncode)
        return f"the process running your code was killed by {name} {when} (a crash, or a memory limit)"
    return (
        f"the process running your code exited with code {returncode} {when}: "
        "do not call sys.exit() or os._exit() in exercise code"
    )
