"""Glue between content and the checker: which folder to grade, with which checks, and the one
way every command sets grading up (:class:`GradingSession`)."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from checker.wire import GradingJob
from course.content.model import Exercise

if TYPE_CHECKING:
    from checker.process.launch import Launcher
    from checker.process.sandbox import Confinement
    from checker.results import ExerciseResult
    from course.postgres.session import DatabaseSession


def job_for(exercise: Exercise, folder: Path) -> GradingJob:
    """The job that grades ``exercise`` in ``folder`` (the same shape on every boundary: ``checker.wire``)."""
    return GradingJob(
        exercise=exercise.full_id,
        checks_file=exercise.checks_file,
        learner_dir=folder.resolve(),
        modules=tuple(exercise.modules),
        check_timeout_s=exercise.timeout,
    )


def copy_tree(source: Path, target: Path) -> None:
    """Copy ``source`` over ``target`` (files in ``source`` win), skipping caches."""
    shutil.copytree(source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


@contextmanager
def materialised(exercise: Exercise, variant: str = "solution", workspace: Path | None = None) -> Iterator[Path]:
    """A temporary folder with the exercise as ``starter``, ``solution``, ``mutants/<name>`` or
    ``variants/<name>`` (the last two are overlays on the solution). ``workspace``: laid out in it
    as in a learner's (``<module>/<exercise>``), where the course's solutions are graded as one
    learner's exercises (``check --all --solution``); else a folder of its own."""
    with contextlib.ExitStack() as stack:
        if workspace is None:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="course-"))) / exercise.id
        else:
            folder = workspace / exercise.module_id / exercise.id
            stack.callback(shutil.rmtree, folder, True)
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


class GradingSession:
    """Databases and a launcher that grade together: what the app, ``check``, ``watch``, ``grade``
    and the service each set up. A context manager; :meth:`close` ends the launcher's children
    first, then drops the databases.

    ``start`` starts the launcher before opening the databases, so the worker imports SQLAlchemy
    & co. while Postgres starts.
    """

    def __init__(self, databases: DatabaseSession, launcher: Launcher | None, *, paired: bool = True):
        """``paired=False``: call :meth:`pair` later (it waits until the worker is ready)."""
        self.databases = databases
        self.launcher = launcher
        if paired:
            self.pair()

    def pair(self) -> None:
        """Have the worker fork and connect the next run's child ahead (see :func:`pair`)."""
        pair(self.databases, self.launcher)

    @classmethod
    def start(
        cls,
        open_databases: Callable[[], DatabaseSession],
        *,
        warm: bool = True,
        confinement: Confinement | None = None,
        clean_environment: bool = False,
        queued: int | list[str | None] | None = None,
        parallel: int = 2,
        exercises: list[Exercise] | None = None,
    ) -> GradingSession:
        """``queued``: how many runs this session is for, when known (``check --all``, a class
        run), or the submission of each (``checker.process.launch.submission_of``); ``parallel``:
        how many of them go at once; ``exercises``: which (what their checks import). A pool of
        spawned interpreters starts theirs ahead (see ``checker.process.launch``)."""
        from checker.process.launch import default_launcher
        from checker.process.spawned import families_of

        needed = None if exercises is None else families_of(e.checks_file for e in exercises)
        launcher = default_launcher(
            warm,
            confinement=confinement,
            clean_environment=clean_environment,
            queued=queued,
            parallel=parallel,
            families=needed,
        )
        try:
            databases = open_databases()
        except BaseException:
            launcher.close()
            raise
        return cls(databases, launcher)

    def expecting(self, jobs: list[GradingJob]) -> AbstractContextManager[None]:
        """Around a request of ``jobs`` (the service): a pool of spawned interpreters starts
        theirs at once; a forking worker needs nothing."""
        expecting = getattr(self.launcher, "expecting", None)
        return expecting(jobs) if expecting is not None else nullcontext()

    def grade(self, job: GradingJob, cancelled: Callable[[], bool] = lambda: False) -> ExerciseResult:
        from checker.process.runner import grade

        return grade(job, self.databases, cancelled=cancelled, launcher=self.launcher)

    def close(self) -> None:
        try:
            if self.launcher is not None:
                self.launcher.close()
        finally:
            self.databases.close()

    def __enter__(self) -> GradingSession:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
