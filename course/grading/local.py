"""``course check`` and ``course watch``: grade exercises, record progress, show results.

The CLI hands these functions values (the exercises, a workspace to make, how to open the
databases), never its click context; the learner's side of a check (recording it, what comes
next, the watch policy) is ``course.learner.session.LearnerSession``'s, as in the app.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from checker.results import ExerciseResult
from checker.wire import GradingJob
from course.content.model import Exercise, Module
from course.grading.session import GradingSession, job_for, materialised
from course.learner.session import CODE_CHANGED, LearnerSession
from course.learner.workspace import Workspace

if TYPE_CHECKING:
    from course.postgres.session import DatabaseSession


def _console():
    from rich.console import Console

    return Console(stderr=False, highlight=False)


LOCAL_PARALLEL = 2
"""Exercises graded at once by ``check --all`` without the service (each in its own child)."""

OpenDatabases = Callable[[int], "DatabaseSession"]
"""Opens a database session with that many spare databases (raises ``BackendError``)."""


def check_exercises(
    exercises: list[Exercise],
    modules: list[Module],
    *,
    workspace: Callable[[], Workspace] | None,
    open_databases: OpenDatabases,
    use_service: bool,
    as_json: bool,
    verbose: bool,
) -> list[ExerciseResult]:
    """Grade each exercise, by the grading service of ``course db start`` when ``use_service``
    and it runs, else here. ``workspace``: makes (or opens) the learner's workspace — called once
    Postgres answers, so a bad database URL leaves nothing behind; None grades the reference
    solutions. Results are printed (and recorded) in order, as they come in.
    """
    here: list[GradingSession] = []

    def grade_here() -> GradingSession:
        if not here:
            here.append(
                GradingSession.start(
                    lambda: open_databases(min(len(exercises), LOCAL_PARALLEL) - 1),
                    queued=len(exercises),
                    parallel=LOCAL_PARALLEL,
                    exercises=exercises,
                )
            )
        return here[0]

    try:
        if not use_service:
            grade_here()  # Postgres first: a database URL that does not work fails before a workspace is made
        return _check(exercises, modules, workspace, grade_here, use_service, as_json, verbose)
    finally:
        for grading in here:
            grading.close()


def _check(exercises, modules, make_workspace, grade_here, use_service, as_json, verbose) -> list[ExerciseResult]:
    workspace = make_workspace() if make_workspace is not None else None
    learners = {} if workspace is None else {m.id: LearnerSession(m, workspace) for m in modules}
    console = None if as_json else _console()
    results = []
    incomplete = {}
    if workspace is not None:
        for exercise in exercises:
            if (missing := learners[exercise.module_id].missing_files_result(exercise)) is not None:
                incomplete[exercise.full_id] = missing
    with contextlib.ExitStack() as folders:
        # the solutions, laid out as one learner's workspace (their runs may share an interpreter)
        solutions = (
            Path(folders.enter_context(tempfile.TemporaryDirectory(prefix="course-solutions-"))) if workspace is None else None
        )
        jobs = [
            job_for(
                exercise,
                folders.enter_context(materialised(exercise, "solution", solutions))
                if workspace is None
                else workspace.folder(exercise),
            )
            for exercise in exercises
            if exercise.full_id not in incomplete
        ]
        graded = _grade_all(jobs, console, use_service, grade_here)
        many = len(exercises) > 1  # check --all: passing ones in the summary only, unless -v
        from course.render import RunProgress, print_result

        progress = RunProgress("grading", len(exercises)) if many and console is not None else None
        with progress if progress is not None else contextlib.nullcontext():
            for exercise in exercises:
                result = incomplete.get(exercise.full_id) or next(graded)
                learner = learners.get(exercise.module_id)
                if learner is not None:
                    learner.check_finished(exercise, result)
                results.append(result)
                if console is not None and (not many or verbose or not result.passed):
                    print_result(console, result, verbose=verbose)
                    if learner is not None:
                        console.print(f"  [dim]{learner.next_step(exercise, result)}[/]", highlight=False)
                if progress is not None:
                    progress.step(f"{exercise.id} {result.status}")
            if jobs:
                next(graded, None)  # past the last result: the grading session closes now
    if many and console is not None:
        from course.render import print_summary

        print_summary(console, results)
    return results


def _grade_all(jobs: list[GradingJob], console, use_service: bool, grade_here) -> Iterator[ExerciseResult]:
    """Results in order: from the service if there is a usable one, the rest graded here."""
    done = 0
    if use_service:
        from course.grading import service

        try:
            for result in service.grade_remotely(jobs):
                done += 1
                yield result
            return
        except service.ServiceUnavailable as why:
            if service.socket_path().exists() and console is not None:  # one was started: say why not
                console.print(f"[dim]({why}; grading here instead)[/]")
    yield from _grade_here(grade_here, jobs[done:])


def service_allowed(backend: str | None, database_url: str | None) -> bool:
    """The service grades on the shared embedded server: not when another backend is asked for."""
    return backend in (None, "", "embedded") and not database_url


def _grade_here(grade_here: Callable[[], GradingSession], jobs: list[GradingJob]) -> Iterator[ExerciseResult]:
    """Grade in this process: one session, one warm worker, up to LOCAL_PARALLEL jobs at once.

    Ctrl-C cancels the runs in flight (their children are killed) before the session closes.
    """
    from concurrent.futures import ThreadPoolExecutor

    if not jobs:
        return
    grading = grade_here()
    stop = threading.Event()
    pool = ThreadPoolExecutor(max_workers=min(len(jobs), LOCAL_PARALLEL))
    try:
        yield from pool.map(lambda job: grading.grade(job, cancelled=stop.is_set), jobs)
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)


def watch_exercise(learner: LearnerSession, exercise: Exercise, open_databases: OpenDatabases) -> None:
    """Re-grade on every save until Ctrl-C (the learner session's watch policy, as in the app)."""
    from course.learner.session import CodeChanged
    from course.learner.watching import wait_for_save
    from course.render import print_result

    folder = learner.workspace.folder(exercise)
    console = _console()
    grading = GradingSession.start(lambda: open_databases(1))
    try:
        while True:
            if learner.code_changed():  # a reinstall under the running watch: its worker is stale
                raise CodeChanged(CODE_CHANGED.replace("quit (ctrl+q) and run `course start`", "run `course watch`"))
            console.rule(f"{exercise.full_id} · {time.strftime('%H:%M:%S')}")
            before = learner.check_started(exercise)
            result = learner.missing_files_result(exercise) or grading.grade(job_for(exercise, folder))
            outcome = learner.check_finished(exercise, result)
            print_result(console, result)
            console.print(f"  [dim]{learner.next_step(exercise, result)}[/]", highlight=False)
            if outcome.again:  # saved while grading: that version is checked now
                continue
            console.print(f"[dim]Watching {folder} — save a file to re-check, Ctrl-C to stop.[/]")
            wait_for_save(folder, since=before)  # a save before the watcher is armed counts too
    except KeyboardInterrupt:
        console.print()
    finally:
        grading.close()
