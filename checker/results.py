"""Grading results as plain data.

Two JSON forms, one reader (:meth:`ExerciseResult.from_json` reads both):

- :meth:`ExerciseResult.to_wire`, what crosses a pipe or socket (the child's ``result`` events,
  the grading service's answers): each statement's SQL once, in ``statements``;
- :meth:`ExerciseResult.to_json`, the public shape README documents for ``course check --json``
  (also what results files and the progress store hold): the same plus each check's ``sql``, the
  list of its statements' SQL, derived (a result holds its SQL once, in :attr:`CheckResult.statements`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum

from checker.wire import WireError


class Status(StrEnum):
    """A check's or an exercise's verdict, with its sign, word and colour: the one vocabulary of
    the terminal, the app and the reports. A ``StrEnum``: ``"pass" == Status.PASS``, and JSON
    holds the plain string."""

    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"

    @property
    def glyph(self) -> str:
        """``✓``, ``✗`` or ``!``."""
        return _GLYPHS[self]

    @property
    def word(self) -> str:
        """What the learner reads beside the glyph: ``passed``, ``failing``, ``error``."""
        return _WORDS[self]

    @property
    def colour(self) -> str:
        """The rich colour of the status, everywhere."""
        return _COLOURS[self]

    @property
    def passed(self) -> bool:
        return self is Status.PASS


_GLYPHS = {Status.PASS: "✓", Status.FAIL: "✗", Status.ERROR: "!"}
_WORDS = {Status.PASS: "passed", Status.FAIL: "failing", Status.ERROR: "error"}
_COLOURS = {Status.PASS: "green", Status.FAIL: "red", Status.ERROR: "yellow"}
STATUSES = frozenset(Status)


def status_of(value: str) -> Status:
    """``value`` as a :class:`Status`; a :class:`WireError` when it is none."""
    try:
        return Status(value)
    except ValueError:
        raise WireError(f"a status is pass, fail or error, not {value!r}") from None


EVIDENCE = "evidence"
"""A verdict judged outside the learner's process (see :attr:`CheckResult.evidence`)."""
TESTIMONY = "testimony"
"""A verdict resting on what the learner's process reported (see :attr:`CheckResult.evidence`)."""


@dataclass
class StatementView:
    """One captured logical statement as shown to the learner."""

    sql: str
    count: int = 1
    """How many consecutive statements of the same shape this row folds."""
    location: str | None = None
    """The learner's ``file:line`` that sent it, when known."""
    note: str | None = None
    """Why it matters, e.g. ``lazy load of User.documents``."""
    flagged: bool = False
    """True for the statements the failing check is about (the N+1, the stray SELECT...)."""

    def to_json(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_json(data: dict) -> StatementView:
        return StatementView(
            sql=data["sql"],
            count=data.get("count", 1),
            location=data.get("location"),
            note=data.get("note"),
            flagged=data.get("flagged", False),
        )


@dataclass
class CheckResult:
    name: str
    status: Status
    message: str = ""
    title: str = ""
    statements: list[StatementView] = field(default_factory=list)
    duration_s: float = 0.0
    evidence: str = EVIDENCE
    """How the verdict was reached: ``"evidence"`` (judged outside the learner's process, from
    what the grader saw itself: the database, the SQL Postgres received, the files) or
    ``"testimony"`` (from what the learner's process reported: in-memory behaviour only it can
    see, or an exercise whose checks still run beside the learner's code). See docs/security.md."""

    def __post_init__(self) -> None:
        self.status = status_of(self.status)

    @property
    def passed(self) -> bool:
        return self.status is Status.PASS

    @property
    def testimony(self) -> bool:
        return self.evidence == TESTIMONY

    @staticmethod
    def not_run(name: str, message: str, *, title: str = "", status: Status = Status.ERROR) -> CheckResult:
        """A check the grader could not run (the learner's code crashed, timed out, was cancelled…)."""
        return CheckResult(name, status, message, title=title)

    @property
    def sql(self) -> list[str]:
        """The SQL of each statement shown, in order (derived from :attr:`statements`)."""
        return [view.sql for view in self.statements]

    def to_wire(self) -> dict:
        return {
            "name": self.name,
            "status": self.status,
            "message": self.message,
            "title": self.title,
            "statements": [view.to_json() for view in self.statements],
            "duration_s": round(self.duration_s, 3),
            "evidence": self.evidence,
        }

    def to_json(self) -> dict:
        """The public shape (README): the wire form with ``sql`` before ``statements``."""
        wire = self.to_wire()
        return {
            "name": wire["name"],
            "status": wire["status"],
            "message": wire["message"],
            "title": wire["title"],
            "sql": self.sql,
            "statements": wire["statements"],
            "duration_s": wire["duration_s"],
            "evidence": wire["evidence"],
        }

    @staticmethod
    def from_json(data: dict) -> CheckResult:
        """A check's result from either form; an ``sql`` list, when there is one, is the derived
        one (a file written before statements were kept has only ``sql``: each becomes one)."""
        try:
            if data["status"] not in STATUSES:
                raise WireError(f"a check's status is pass, fail or error, not {data['status']!r}")
            if "statements" in data:
                views = [StatementView.from_json(view) for view in data["statements"]]
            else:
                views = [StatementView(sql) for sql in data.get("sql", [])]
            return CheckResult(
                name=data["name"],
                status=data["status"],
                message=data.get("message", ""),
                title=data.get("title", ""),
                statements=views,
                duration_s=data.get("duration_s", 0.0),
                evidence=TESTIMONY if data.get("evidence") == TESTIMONY else EVIDENCE,
            )
        except (KeyError, TypeError, AttributeError) as error:
            raise WireError(f"not a check result ({type(error).__name__}: {error})") from None


@dataclass
class ExerciseResult:
    exercise: str
    status: Status
    duration_s: float
    checks: list[CheckResult]
    output: str = ""
    """What the learner's code printed (truncated), for the learner's own debugging."""
    tampered: str = ""
    """Why the child's report was not believed, when it was not (class grading flags it)."""

    def __post_init__(self) -> None:
        self.status = status_of(self.status)

    @staticmethod
    def combine(exercise: str, checks: list[CheckResult], duration_s: float, output: str = "") -> ExerciseResult:
        statuses = {check.status for check in checks}
        status = (
            Status.ERROR if Status.ERROR in statuses or not checks else Status.FAIL if Status.FAIL in statuses else Status.PASS
        )
        return ExerciseResult(exercise, status, duration_s, checks, output)

    # -- results the runner makes up: nothing of the learner's code was graded ------------------

    RUN = "run"
    """The one check's name of a result whose code could not run at all (no checks were declared)."""
    FILES = "files"
    """The one check's name of a result whose files are missing."""

    @staticmethod
    def not_run(exercise: str, message: str, *, duration_s: float = 0.0, output: str = "") -> ExerciseResult:
        """Nothing was graded, for ``message``'s reason (one ``run`` check, an error)."""
        check = CheckResult.not_run(ExerciseResult.RUN, message, title="Run your code")
        return ExerciseResult(exercise, Status.ERROR, duration_s, [check], output)

    @staticmethod
    def crashed(exercise: str, message: str, *, duration_s: float = 0.0, output: str = "") -> ExerciseResult:
        """The process running the learner's code died before any check could run."""
        return ExerciseResult.not_run(exercise, message, duration_s=duration_s, output=output)

    @staticmethod
    def timed_out(exercise: str, limit_s: float, *, output: str = "") -> ExerciseResult:
        """The learner's code did not finish importing within ``limit_s``."""
        message = (
            f"your code did not finish importing within {limit_s:.0f} s: look for a loop or a blocking "
            "call at module level (code outside functions runs on import)"
        )
        return ExerciseResult.not_run(exercise, message, duration_s=limit_s, output=output)

    @staticmethod
    def missing_files(exercise: str, short_id: str, missing: list[str]) -> ExerciseResult:
        """The exercise's folder lacks ``missing``: nothing is graded; ``course reset`` restores them."""
        names = ", ".join(missing)
        verb = "is" if len(missing) == 1 else "are"
        message = (
            f"{names} {verb} missing from your {short_id} folder; `course reset {short_id}` restores "
            "the starter files (your current folder is kept in a backup)"
        )
        check = CheckResult.not_run(ExerciseResult.FILES, message, title="Your exercise files")
        return ExerciseResult(exercise, Status.ERROR, 0.0, [check])

    @property
    def passed(self) -> bool:
        return self.status is Status.PASS

    def _as(self, checks: list[dict]) -> dict:
        return {
            "exercise": self.exercise,
            "status": self.status,
            "duration_s": round(self.duration_s, 3),
            "checks": checks,
            "output": self.output,
            **({"tampered": self.tampered} if self.tampered else {}),
        }

    def to_json(self) -> dict:
        """The public shape README documents for ``course check --json``."""
        return self._as([check.to_json() for check in self.checks])

    def to_wire(self) -> dict:
        """What the grading service sends: each statement's SQL once."""
        return self._as([check.to_wire() for check in self.checks])

    @staticmethod
    def from_json(data: dict) -> ExerciseResult:
        """A result from either form (:meth:`to_json` or :meth:`to_wire`)."""
        try:
            checks = [CheckResult.from_json(check) for check in data["checks"]]
            return ExerciseResult(
                data["exercise"], data["status"], data["duration_s"], checks, data.get("output", ""), data.get("tampered", "")
            )
        except (KeyError, TypeError, AttributeError) as error:
            raise WireError(f"not an exercise result ({type(error).__name__}: {error})") from None
