"""What crosses a process boundary while grading, defined once: the job and the report's events.

Every boundary carries the same shapes, as JSON:

- a :class:`GradingJob` goes from ``course check`` to the grading service (``course.grading.service``),
  and from the runner to the worker and on to the child (``checker.process.launch``, ``warm``,
  ``spawned``), always as :meth:`GradingJob.to_json` and read back with :meth:`GradingJob.from_json`,
  which refuses anything else (a job of another shape, or of an older version) with a
  :class:`WireError` that says what is wrong, rather than reading half of it;
- the child's report is a series of events, each ``{"type": <Event>, "n": <number>, ...}``
  (signed: ``checker.process.channel``), the kinds named by :class:`Event` on both sides;
- a result goes back (an :data:`Event.RESULT` event, the service's answer) as
  :meth:`checker.results.ExerciseResult.to_wire`: each statement's SQL once.

What goes with a job only for one launch (the run's database, its confinement, the secret) travels
beside it, never inside it (see ``checker.process.launch``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from pathlib import Path


class WireError(ValueError):
    """Data that crossed a boundary is not of the shape this code reads (``str()`` says why)."""


class Event(StrEnum):
    """The kinds of event in a child's report, in the order the protocol allows them.

    Str-valued, so an event stays plain JSON on the wire (``"type": "result"``)."""

    CHECKS = "checks"
    """First: the checks this run will report, ``checks: [{name, title, timeout}]``."""
    IMPORTING = "importing"
    """A learner module is being imported (``module``)."""
    IMPORT_ERROR = "import-error"
    """A learner module failed to import (``module``, ``message``): the report ends."""
    GRADER_ERROR = "grader-error"
    """The run could not happen (``message``): the report ends."""
    START = "start"
    """A check starts (``name``)."""
    RESULT = "result"
    """The check that started has its result (:meth:`checker.results.CheckResult.to_wire`)."""
    TAMPERED = "tampered"
    """The harness found the grader changed by learner code (``message``): the report ends."""
    DONE = "done"
    """Every check has reported: the report ends."""

    @property
    def ends(self) -> bool:
        """Whether nothing may follow this event."""
        return self in (Event.IMPORT_ERROR, Event.GRADER_ERROR, Event.TAMPERED, Event.DONE)


@dataclass(frozen=True)
class GradingJob:
    """One exercise to grade in one folder."""

    exercise: str
    """Full id, e.g. ``sqlalchemy-2/05-relationships``."""
    checks_file: Path
    learner_dir: Path
    modules: tuple[str, ...]
    """Learner modules imported up front, in order (an import error fails every check at once)."""
    check_timeout_s: float = 10.0
    only: tuple[str, ...] = field(default=())
    """Run only these checks (by name); all when empty."""

    def __post_init__(self):
        # callers may pass lists and strings; the job itself holds what its JSON round-trips to
        object.__setattr__(self, "checks_file", Path(self.checks_file))
        object.__setattr__(self, "learner_dir", Path(self.learner_dir))
        object.__setattr__(self, "modules", tuple(self.modules))
        object.__setattr__(self, "only", tuple(self.only))

    def to_json(self) -> dict:
        return {
            "exercise": self.exercise,
            "checks_file": str(self.checks_file),
            "learner_dir": str(self.learner_dir),
            "modules": list(self.modules),
            "check_timeout_s": self.check_timeout_s,
            "only": list(self.only),
        }

    @staticmethod
    def from_json(data: object) -> GradingJob:
        """The job ``data`` describes; :class:`WireError` unless it is exactly what
        :meth:`to_json` makes (every field, of its type, and nothing else)."""
        if not isinstance(data, dict):
            raise WireError(f"a grading job is a JSON object, not {type(data).__name__}")
        names = [f.name for f in fields(GradingJob)]
        unknown = sorted(set(data) - set(names), key=str)
        missing = [name for name in names if name not in data]
        if unknown or missing:
            parts = ([f"unknown field(s) {', '.join(map(repr, unknown))}"] if unknown else []) + (
                [f"missing field(s) {', '.join(map(repr, missing))}"] if missing else []
            )
            raise WireError(f"not a grading job of this version: {'; '.join(parts)} (expected {', '.join(names)})")
        for name in ("exercise", "checks_file", "learner_dir"):
            if not isinstance(data[name], str) or not data[name]:
                raise WireError(f"grading job field {name!r} must be a non-empty string, not {data[name]!r}")
        for name in ("modules", "only"):
            if not isinstance(data[name], list) or not all(isinstance(item, str) for item in data[name]):
                raise WireError(f"grading job field {name!r} must be a list of strings, not {data[name]!r}")
        timeout = data["check_timeout_s"]
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise WireError(f"grading job field 'check_timeout_s' must be a positive number, not {timeout!r}")
        return GradingJob(
            exercise=data["exercise"],
            checks_file=Path(data["checks_file"]),
            learner_dir=Path(data["learner_dir"]),
            modules=tuple(data["modules"]),
            check_timeout_s=float(timeout),
            only=tuple(data["only"]),
        )
