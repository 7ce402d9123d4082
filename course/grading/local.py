"""``course check`` and ``course watch``: grade exercises, record progress, show results."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator

from checker.results import ExerciseResult
from checker.wire import GradingJob
from course.content.model import Exercise
from course.grading.session import GradingSession, job_for, materialised
from course.learner.workspace import missing_files_result


def _console():
    from rich.console import Console

    return Console(stderr=False, highlight=False)


LOCAL_PARALLEL = 2
"""Exercises graded at once by ``check --all`` without the service (each in its own child)."""


def check_exercises(ctx, exercises: list[Exercise], *, solution: bool, as_json: bool, verbose: bool) -> list[ExerciseResult]:
    """Grade each exercise, by the grading service of ``course db start`` when it runs, else here.

    Results are printed (and recorded) in order, as they come in.
    """
    workspace = None if solution else ctx.workspace()
    console = None if as_json else _console()
    results = []
    incomplete = (
        {}
        if workspace is None
        else {
            exercise.full_id: missing_files_result(exercise, missing)
            for exercise in exercises
            if (missing := workspace.missing_files(exercise))
        }
    )
    with contextlib.ExitStack() as folders:
        jobs = [
            job_for(
                exercise,
                folders.enter_context(materialised(exercise, "solution")) if workspace is None else workspace.folder(exercise),
            )
            for exercise in exercises
            if exercise.full_id not in incomplete
        ]
        graded = _grade_all(ctx, jobs, console)
        many = len(exercises) > 1  # check --all: passing ones in the summary only, unless -v
        from course.render import RunProgress

        progress = RunProgress("grading", len(exercises)) if many and console is not None else None
        with progress if progress is not None else contextlib.nullcontext():
            for exercise in exercises:
                result = incomplete.get(exercise.full_id) or next(graded)
                if workspace is not None:
                    workspace.record(exercise, result)
                results.append(result)
                if console is not None and (not many or verbose or result.status != "pass"):
                    from course.render import print_result

                    print_result(console, result, verbose=verbose)
                    if result.status != "pass" and workspace is not None:
                        console.print(f"  [dim]Stuck? `course hint {exercise.id}` · edit {workspace.folder(exercise)}[/]")
                if progress is not None:
                    progress.step(f"{exercise.id} {result.status}")
            if jobs:
                next(graded, None)  # past the last result: the grading session closes now
    if many and console is not None:
        from course.render import print_summary

        print_summary(console, results)
    return results


def _grade_all(ctx, jobs: list[GradingJob], console) -> Iterator[ExerciseResult]:
    """Results in order: from the service if there is a usable one, the rest graded here."""
    done = 0
    if _service_allowed(ctx):
        from course.grading import service

        try:
            for result in service.grade_remotely(jobs):
                done += 1
                yield result
            return
        except service.ServiceUnavailable as why:
            if service.socket_path().exists() and console is not None:  # one was started: say why not
                console.print(f"[dim]({why}; grading here instead)[/]")
    yield from _grade_here(ctx, jobs[done:])


def _service_allowed(ctx) -> bool:
    """The service grades on the shared embedded server: not when another backend is asked for."""
    backend = ctx.backend or os.environ.get("COURSE_BACKEND")
    url = ctx.database_url or os.environ.get("COURSE_DATABASE_URL")
    return backend in (None, "", "embedded") and not url


def _grade_here(ctx, jobs: list[GradingJob]) -> Iterator[ExerciseResult]:
    """Grade in this process: one session, one warm worker, up to LOCAL_PARALLEL jobs at once.

    Ctrl-C cancels the runs in flight (their children are killed) before the session closes.
    """
    from concurrent.futures import ThreadPoolExecutor

    if not jobs:
        return
    grading = GradingSession.start(lambda: ctx.database_session(spares=min(len(jobs), LOCAL_PARALLEL) - 1))
    stop = threading.Event()
    pool = ThreadPoolExecutor(max_workers=min(len(jobs), LOCAL_PARALLEL))
    try:
        yield from pool.map(lambda job: grading.grade(job, cancelled=stop.is_set), jobs)
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        grading.close()


def watch_exercise(ctx, query: str | None) -> None:
    """Re-grade on every save until Ctrl-C (the watch policy of ``course.learner.watching``)."""
    from course.learner.watching import CheckGate, wait_for_save
    from course.render import print_result

    workspace = ctx.workspace()
    if query is None:
        position = workspace.progress.get("position")
        query = position or ctx.modules[0].exercises[0].full_id
    exercise = ctx.exercise(query)
    folder = workspace.folder(exercise)
    console = _console()
    gate = CheckGate()
    grading = GradingSession.start(ctx.database_session)
    try:
        while True:
            console.rule(f"{exercise.full_id} · {time.strftime('%H:%M:%S')}")
            before = gate.started(exercise.full_id, folder)
            missing = workspace.missing_files(exercise)
            result = missing_files_result(exercise, missing) if missing else grading.grade(job_for(exercise, folder))
            workspace.record(exercise, result)
            print_result(console, result)
            if gate.finished():  # saved while grading: that version is checked now
                continue
            console.print(f"[dim]Watching {folder} — save a file to re-check, Ctrl-C to stop.[/]")
            wait_for_save(folder, since=before)  # a save before the watcher is armed counts too
    except KeyboardInterrupt:
        console.print()
    finally:
        grading.close()
