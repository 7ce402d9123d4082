"""Grading results as plain data, in the JSON shape README documents for `course check --json`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

Status = Literal["pass", "fail", "error"]


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


@dataclass
class CheckResult:
    name: str
    status: Status
    message: str = ""
    title: str = ""
    sql: list[str] = field(default_factory=list)
    statements: list[StatementView] = field(default_factory=list)
    duration_s: float = 0.0

    def to_json(self) -> dict:
        data = asdict(self)
        data["duration_s"] = round(self.duration_s, 3)
        return data


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

    @staticmethod
    def combine(exercise: str, checks: list[CheckResult], duration_s: float, output: str = "") -> ExerciseResult:
        statuses = {check.status for check in checks}
        status: Status = "error" if "error" in statuses or not checks else "fail" if "fail" in statuses else "pass"
        return ExerciseResult(exercise, status, duration_s, checks, output)

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def to_json(self) -> dict:
        return {
            "exercise": self.exercise,
            "status": self.status,
            "duration_s": round(self.duration_s, 3),
            "checks": [check.to_json() for check in self.checks],
            "output": self.output,
            **({"tampered": self.tampered} if self.tampered else {}),
        }

    @staticmethod
    def from_json(data: dict) -> ExerciseResult:
        checks = [
            CheckResult(**{**check, "statements": [StatementView(**s) for s in check.get("statements", [])]})
            for check in data["checks"]
        ]
        return ExerciseResult(data["exercise"], data["status"], data["duration_s"], checks, data.get("output", ""),
                              data.get("tampered", ""))
