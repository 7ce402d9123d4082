"""Glue between content and the checker: which folder to grade, with which checks."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from checker.runner import GradingJob
from course.content import Exercise


def job_for(exercise: Exercise, folder: Path) -> GradingJob:
    return GradingJob(
        exercise=exercise.full_id,
        checks_file=exercise.checks_file,
        learner_dir=folder.resolve(),
        modules=exercise.modules,
        check_timeout_s=exercise.timeout,
    )


def copy_tree(source: Path, target: Path) -> None:
    """Copy ``source`` over ``target`` (files in ``source`` win), skipping caches."""
    shutil.copytree(source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


@contextmanager
def materialised(exercise: Exercise, variant: str = "solution") -> Iterator[Path]:
    """A temporary folder with the exercise as ``starter``, ``solution``, ``mutants/<name>`` or
    ``variants/<name>`` (the last two are overlays on the solution)."""
    with tempfile.TemporaryDirectory(prefix="course-") as scratch:
        folder = Path(scratch) / exercise.id
        if variant == "starter":
            copy_tree(exercise.starter_dir, folder)
        else:
            copy_tree(exercise.solution_dir, folder)
            if variant != "solution":
                overlay = exercise.path / variant
                if not overlay.is_dir():
                    raise FileNotFoundError(f"{overlay} does not exist")
                copy_tree(overlay, folder)
        yield folder


def pair(session, launcher) -> None:
    """Let a warm worker prepare a child for each spare database ahead of the run that gets it
    (forked and connected before the save arrives)."""
    if hasattr(launcher, "prepare") and hasattr(session, "announce_spares"):
        session.announce_spares(launcher.prepare)
