"""One learner's session, without UI: where they are, what runs, what shows after a check, when
to check again. ``course check``, ``course watch`` and the app (``course start``) each drive one
:class:`LearnerSession`; the app's screens only render it (as rustlings' ``AppState``).

What it holds: the module and the workspace; the current section (remembered in the progress
store); this run's last result of each exercise (over the recorded ones); the hints seen; the
watch policy (``course.learner.watching``: one check at a time, a save during a check checks
once more after it); what follows a pass (the next section, on its lesson); and a stamp of the
grader's own install as this process loaded it, so that a reinstall under a running app is said as
such — never blamed on the learner's code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from checker.results import ExerciseResult, Status
from course.content.model import Exercise, Module, Section
from course.errors import CourseError
from course.learner.status import exercise_status
from course.learner.watching import CheckGate
from course.learner.workspace import Workspace, grader_fingerprint

if TYPE_CHECKING:
    from collections.abc import Iterable


def code_roots() -> list[Path]:
    """Where an install of ``course`` leaves its mark: its distribution's metadata folder
    (``course-<version>.dist-info``), rewritten by every ``pip install`` — editable or not — and
    untouched by a developer's edits; none when running from a source tree never installed."""
    from importlib import metadata

    try:
        files = metadata.distribution("course").files or []
    except metadata.PackageNotFoundError:
        return []
    return [Path(str(f.locate())).parent for f in files if f.name == "RECORD"][:1]


class CodeStamp:
    """The grader's own code as this process loaded it (the files under ``roots``: by default
    :func:`code_roots`): a reinstall or upgrade of ``course`` under a running app changes them,
    and a worker forked from this process would then run a mix of old and new code."""

    def __init__(self, roots: Iterable[Path] | None = None):
        self.roots = list(code_roots() if roots is None else roots)
        self.taken = self._stamp()

    def _stamp(self) -> dict[str, tuple[int, int]]:
        files = {}
        for root in self.roots:
            for path in root.rglob("*"):
                try:
                    stat = path.stat()
                except OSError:
                    continue
                files[str(path)] = (stat.st_mtime_ns, stat.st_size)
        return files

    def changed(self) -> bool:
        return self._stamp() != self.taken


CODE_CHANGED = (
    "course itself changed on disk since this app started (reinstalled or upgraded?): "
    "its grader's code is not the one running here, so no check can be trusted; "
    "fix: quit (ctrl+q) and run `course start` again — your files and progress are kept"
)
"""What a check says when the grader's own code changed under the running process."""


class CodeChanged(CourseError):
    """:data:`CODE_CHANGED`, where the command has to stop (``course watch``)."""


@dataclass
class CheckOutcome:
    """What a finished check means for the learner."""

    result: ExerciseResult
    again: bool
    """Saved while it ran: check the exercise once more, now."""
    toast: tuple[str, str] | None
    """``(text, severity)`` of the one pop-up to raise, or None (a pass says it on the Results tab)."""


@dataclass
class Hints:
    shown: list[str]
    """Every hint revealed so far, in order."""
    total: int
    new: bool
    """False when every hint was already shown (nothing more to reveal)."""

    @property
    def all_shown(self) -> bool:
        return len(self.shown) >= self.total


class LearnerSession:
    """A learner's run of one module; thread-safe where a watcher thread calls it (:meth:`saved`)."""

    def __init__(self, module: Module, workspace: Workspace, *, code: CodeStamp | None = None):
        self.module = module
        self.workspace = workspace
        self.gate = CheckGate()
        self.code = code if code is not None else CodeStamp()
        self.results: dict[str, ExerciseResult] = {}  # this run's latest of each exercise
        self.server_status = "starting…"
        self.server_failure = ""
        position = workspace.progress.get(f"section:{module.id}")
        ids = [s.id for s in module.sections]
        self.index = ids.index(position) if position in ids else 0

    # -- where the learner is ---------------------------------------------------------------

    @property
    def section(self) -> Section:
        return self.module.sections[self.index]

    @property
    def exercise(self) -> Exercise | None:
        return self.section.exercises[0] if self.section.exercises else None

    def go_to(self, index: int) -> bool:
        """Open section ``index`` (remembered); False when there is none."""
        if not 0 <= index < len(self.module.sections):
            return False
        self.index = index
        section = self.section
        self.workspace.progress.set(f"section:{self.module.id}", section.id)
        if section.exercises:
            self.workspace.progress.set("position", section.exercises[0].full_id)
        return True

    def move(self, step: int) -> bool:
        return self.go_to(self.index + step)

    def find(self, exercise_id: str) -> Exercise | None:
        return next((e for e in self.module.exercises if e.full_id == exercise_id), None)

    def section_index_of(self, exercise: Exercise) -> int | None:
        return next((n for n, s in enumerate(self.module.sections) if exercise in s.exercises), None)

    # -- statuses -------------------------------------------------------------------------------

    def status(self, exercise: Exercise) -> str:
        """``pass``, ``fail``, ``error``, ``not started`` or ``re-check``."""
        return exercise_status(self.workspace, exercise)

    def section_status(self, section: Section) -> str:
        """``done``, ``failing``, ``not started`` or ``quiz`` (the table of contents' signs)."""
        if section.quiz_only:
            return "quiz"
        statuses = [self.status(e) for e in section.exercises]
        if all(s == Status.PASS for s in statuses):
            return "done"
        if any(s in (Status.FAIL, Status.ERROR) for s in statuses):
            return "failing"
        return "not started"

    def passed_count(self) -> int:
        return sum(1 for e in self.module.exercises if self.status(e) == Status.PASS)

    def status_line(self) -> str:
        checking = f" · checking {self.gate.running}…" if self.gate.running else ""
        return (
            f"{self.passed_count()}/{len(self.module.exercises)} exercises passed · Postgres: {self.server_status}{checking}"
            f" · workspace {self.workspace.root.name}/ · ? for help"
        )

    def shown_result(self, exercise: Exercise) -> tuple[ExerciseResult | None, str]:
        """This run's last result of ``exercise``, else the one recorded by an earlier run with a
        note saying when (and that the grader changed since, if it did); ``(None, "")`` if none."""
        if exercise.full_id in self.results:
            return self.results[exercise.full_id], ""
        recorded = self.workspace.progress.latest_result(exercise.full_id)
        if recorded is None:
            return None, ""
        data, latest = recorded
        try:
            result = ExerciseResult.from_json(data)
        except (KeyError, TypeError, ValueError):
            return None, ""  # written by another version: a check makes a new one
        note = f"Last check, {time.strftime('%Y-%m-%d %H:%M', time.localtime(latest.at))}."
        if latest.grader != grader_fingerprint(exercise):
            note += " The grader changed since: press c to check again."
        return result, note

    # -- checking -------------------------------------------------------------------------------

    @property
    def checking(self) -> str | None:
        """The exercise being checked, or None."""
        return self.gate.running

    def code_changed(self) -> bool:
        """The grader's own code changed on disk since this process started (:data:`CODE_CHANGED`)."""
        return self.code.changed()

    def saved(self, exercise: Exercise) -> bool:
        """A save in the exercise's folder: True means check now (the watch policy)."""
        return self.gate.saved(self.workspace.folder(exercise))

    def check_started(self, exercise: Exercise) -> dict:
        """A check of ``exercise`` begins: the sources as it sees them."""
        return self.gate.started(exercise.full_id, self.workspace.folder(exercise))

    def missing_files_result(self, exercise: Exercise) -> ExerciseResult | None:
        """The result of a check of an exercise whose files are missing (reported, never silently
        restored); None when they are all there."""
        missing = self.workspace.missing_files(exercise)
        return ExerciseResult.missing_files(exercise.full_id, exercise.id, missing) if missing else None

    def check_finished(self, exercise: Exercise, result: ExerciseResult) -> CheckOutcome:
        """Record ``result``; what to tell, and whether to check again (saved while it ran)."""
        from course.render import common_error, things_to_fix

        again = self.gate.finished() if self.gate.running == exercise.full_id else False
        self.workspace.record(exercise, result)
        self.results[exercise.full_id] = result
        toast: tuple[str, str] | None
        if result.passed:
            toast = None  # the Results tab says it, with what comes next; a pop-up would cover it
        elif common_error(result) is not None:
            toast = ("Your code could not run: one thing to fix — see Results.", "warning")
        else:
            toast = (f"{things_to_fix(result)} check(s) to fix — see Results and SQL.", "warning")
        return CheckOutcome(result, again, toast)

    def check_cancelled(self) -> None:
        self.gate.cancelled()

    # -- after a pass ---------------------------------------------------------------------------

    def next_section(self) -> Section | None:
        """The section that follows the current one, or None at the end."""
        return self.module.sections[self.index + 1] if self.index + 1 < len(self.module.sections) else None

    def after_pass(self) -> str:
        """What a pass of the current exercise leads to, as a line to read."""
        following = self.next_section()
        if following is None:
            return "That was the last section: the module is done."
        return f"Press enter for section {following.number}, {following.title}, when you are ready."

    def next_step(self, exercise: Exercise, result: ExerciseResult) -> str:
        """The terminal's last line under a result: where to go after a pass, where to look after a failure."""
        if not result.passed:
            return f"Stuck? `course hint {exercise.id}` · edit {self.workspace.folder(exercise)}"
        index = self.section_index_of(exercise)
        following = self.module.sections[index + 1] if index is not None and index + 1 < len(self.module.sections) else None
        if following is None:
            return "That was the last section's exercise: the module is done."
        if following.exercises:
            return f"Next: section {following.number}, {following.title}: `course check {following.exercises[0].id}`"
        return f"Next: section {following.number}, {following.title}, a quiz: `course quiz --section {following.number}`"

    def can_advance(self) -> bool:
        """Enter moves on: the current exercise passed."""
        return self.exercise is not None and self.status(self.exercise) == Status.PASS

    # -- hints and solutions ------------------------------------------------------------------

    def hints_seen(self, exercise: Exercise) -> list[str]:
        from course.learner.hints import hints_seen

        return hints_seen(self.workspace, exercise)

    def reveal_hint(self, exercise: Exercise) -> Hints:
        return reveal(self.workspace, exercise)

    def request_solution(self, exercise: Exercise) -> dict[str, str] | None:
        from course.learner.hints import request_solution

        return request_solution(self.workspace, exercise)


def reveal(workspace: Workspace, exercise: Exercise) -> Hints:
    """One more hint (recorded), unless every hint was shown already (``new`` False then)."""
    from course.learner.hints import hints_seen, reveal_hint

    before = hints_seen(workspace, exercise)
    if len(before) >= len(exercise.hints):
        return Hints(before, len(exercise.hints), new=False)
    return Hints(reveal_hint(workspace, exercise), len(exercise.hints), new=True)
