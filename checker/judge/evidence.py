"""The judge's fixtures: ``learner`` (acts run in the witness; files read here), ``sql`` (what the
server logged), and the bookkeeping that says whether a verdict is evidence or testimony."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from checker.api import CheckFailed, fail
from checker.capture.log import CapturedStatement, StatementLog
from checker.fixtures import Learner
from checker.judge.acts import BadReply, LearnerRaised, WitnessGone, parse_reply, read_line, write_line
from checker.judge.serverlog import ServerLog, comparable

SOURCE_LIMIT = 1 << 20
"""Bytes of one learner file kept for inspection."""
SOURCE_FILES = 400


def snapshot_sources(directory: Path) -> dict[str, str]:
    """The learner's Python files as they are now, before any learner code runs (no link followed)."""
    files: dict[str, str] = {}
    for root, dirs, names in os.walk(directory, followlinks=False):
        dirs[:] = [d for d in dirs if d not in ("__pycache__", ".venv", "venv", ".git", "node_modules")]
        for name in names:
            if not name.endswith((".py", ".ini", ".toml", ".cfg")) or len(files) >= SOURCE_FILES:
                continue
            path = Path(root) / name
            if path.is_symlink() or not path.is_file():
                continue
            try:
                with open(path, "rb") as handle:
                    data = handle.read(SOURCE_LIMIT)
            except OSError:
                continue
            files[path.relative_to(directory).as_posix()] = data.decode("utf-8", errors="replace")
    return files


class Witness:
    """The judge's end of the act pipes."""

    def __init__(self, pid: int, requests: int, replies: int):
        self.pid = pid
        self.requests = requests
        self.replies = replies
        self.buffer = bytearray()

    def send(self, message: dict) -> None:
        try:
            write_line(self.requests, message)
        except OSError as error:
            raise WitnessGone(str(error)) from None

    def receive(self, deadline: float) -> dict:
        return parse_reply(read_line(self.replies, deadline, buffer=self.buffer))


class OutsideSql:
    """The ``sql`` fixture in the judge: the statements Postgres received from the learner's
    backends while acts ran (or, where the server keeps no log, what the witness said it sent:
    then the check is testimony)."""

    def __init__(self):
        self.flagged: list[tuple[CapturedStatement, str]] = []
        self.everything = StatementLog()
        self._active: list[StatementLog] = []
        self.used = False
        self.testimony = False
        """True once a statement came from the witness's word rather than the server's log."""

    @contextlib.contextmanager
    def capture(self):
        """``with sql.capture() as log:``: the statements of the acts run inside the block."""
        self.used = True
        log = StatementLog()
        self._active.append(log)
        try:
            yield log
        finally:
            self._active.remove(log)

    @property
    def watching(self) -> bool:
        """Whether a ``with sql.capture()`` block is open (only then are an act's statements read)."""
        return bool(self._active)

    def add(self, statements: list[CapturedStatement]) -> None:
        self.everything.extend(statements)
        for log in self._active:
            log.extend(statements)

    def flag(self, statements, note: str = "") -> None:
        for statement in statements:
            self.flagged.append((statement, note))

    @staticmethod
    @contextlib.contextmanager
    def paused():
        yield


class JudgeLearner(Learner):
    """The ``learner`` fixture in the judge: ``run(act, *args)`` asks the witness; ``source``,
    ``tree``, ``where`` read the learner's files as they were when the run began. The learner's
    modules are never imported here: ``learner.models`` is an error that says to use an act."""

    def __init__(self, directory: Path, sources: dict[str, str], context):
        super().__init__(directory, {})
        self._sources = sources
        self._context = context

    def module(self, name: str):
        raise RuntimeError(
            f"learner.{name}: the judge never imports the learner's code; reach it from an @act (see docs/authoring.md)"
        )

    def run(self, act, *args):
        """Run ``act`` in the learner's process with ``args`` (plain JSON); return its plain JSON.
        Raises :class:`LearnerRaised` (the learner's code raised) or fails the check (``fail()``
        in the act)."""
        name = getattr(act, "__course_act__", act)
        if not isinstance(name, str):
            raise TypeError("learner.run() takes a function marked @act (or its name)")
        return self._context.run_act(name, list(args))

    def source(self, filename: str) -> str:
        return self._sources.get(Path(filename).as_posix(), "")


class ActRunner:
    """Runs acts for the current check: the request, the reply under the check's deadline, and the
    statements the server logged while it ran."""

    def __init__(self, witness: Witness, server_log: ServerLog | None, mark, sql_of):
        self.witness = witness
        self.server_log = server_log
        self.mark = mark
        self.sql_of = sql_of
        self.check = ""
        self.deadline = 0.0
        self.acts_run = 0

    def run_act(self, name: str, args: list):
        sql: OutsideSql = self.sql_of()
        self.acts_run += 1
        watched = sql.watching  # statements are read only for an act inside `with sql.capture()`
        if self.server_log is not None and not watched:
            self.server_log.unsynced()  # what this act sends is not read: the next watched act syncs first
        # past every line of what the learner's process sent before this act (the collector writes late)
        offset = None if self.server_log is None or not watched else self.server_log.synced(self.mark)
        self.witness.send({"act": name, "args": args, "check": self.check})
        try:
            reply = self.witness.receive(self.deadline)
        except BadReply as why:
            fail(f"{why}: the grader cannot take it as an answer")
            raise
        hints = reply.get("hints", [])
        if not watched:
            statements = []
        elif offset is not None and self.server_log is not None:
            # a log that was there when the run began and is not now: no verdict (never the witness's word instead)
            statements = _with_hints(self.server_log.statements_since(offset, self.mark), hints)
        else:
            sql.testimony = True
            statements = [
                CapturedStatement(h["sql"] or "", None, h["location"], h["lazy_load"], h["relationship_load"]) for h in hints
            ]
        sql.add([s for s in statements if s.shape.kind != "TRANSACTION"])
        if "ok" in reply:
            return reply["ok"]
        if "failed" in reply:
            raise CheckFailed(reply["failed"])
        if "raised" in reply:
            raised = reply["raised"]
            raise LearnerRaised(raised["kind"], raised["text"])
        raise WitnessGone("the reply was not an act's outcome")


def _with_hints(statements, hints: list[dict]) -> list[CapturedStatement]:
    """The server's statements, each given the file:line and loader notes of the witness's hint
    of the same text (matched in order; a statement without a hint has none)."""
    keyed = [(comparable(h["sql"] or ""), h) for h in hints]
    position = 0
    result = []
    for statement in statements:
        text = comparable(statement.sql)
        found = None
        for index in range(position, min(position + 64, len(keyed))):
            if keyed[index][0] == text:
                found = keyed[index][1]
                position = index + 1
                break
        captured = CapturedStatement(statement.sql, statement.parameters)
        if found is not None:
            captured.location, captured.lazy_load, captured.relationship_load = (
                found["location"],
                found["lazy_load"],
                found["relationship_load"],
            )
        result.append(captured)
    return result


def deadline_after(seconds: float) -> float:
    return time.monotonic() + seconds
