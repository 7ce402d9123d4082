"""Hints, solutions and resets: the rules shared by the CLI and the TUI."""

from __future__ import annotations

from pathlib import Path

from course.content.model import Exercise
from course.learner.workspace import Workspace

SOLUTION_ASKS = 2
"""A solution is shown after a pass, or on the second request."""


def reveal_hint(workspace: Workspace, exercise: Exercise) -> list[str]:
    """Record one more hint seen; return every hint revealed so far (progressive)."""
    seen = workspace.progress.bump(exercise.full_id, "hints")
    return exercise.hints[: min(seen, len(exercise.hints))]


def hints_seen(workspace: Workspace, exercise: Exercise) -> list[str]:
    return exercise.hints[: min(workspace.progress.count(exercise.full_id, "hints"), len(exercise.hints))]


def request_solution(workspace: Workspace, exercise: Exercise) -> dict[str, str] | None:
    """The solution files (name → text) if the rules allow it now, else None (and count the ask)."""
    asked = workspace.progress.bump(exercise.full_id, "solution-requests")
    if not workspace.progress.ever_passed(exercise.full_id) and asked < SOLUTION_ASKS:
        return None
    return solution_files(exercise)


def solution_files(exercise: Exercise) -> dict[str, str]:
    files = {}
    for name in exercise.edit:
        path = exercise.solution_dir / name
        if path.is_file():
            files[name] = path.read_text(encoding="utf-8")
        elif path.is_dir():
            for inner in sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
                files[(Path(name) / inner.relative_to(path)).as_posix()] = inner.read_text(encoding="utf-8")
    return files
