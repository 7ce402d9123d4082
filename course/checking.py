"""``course check`` and ``course watch``: grade exercises, record progress, show results."""

from __future__ import annotations

import time
from pathlib import Path

import click

from checker.results import ExerciseResult
from checker.runner import grade
from course.content import Exercise
from course.grading import job_for, materialised
from course.workspace import grader_fingerprint


def _console():
    from rich.console import Console

    return Console(stderr=False, highlight=False)


def check_exercises(ctx, exercises: list[Exercise], *, solution: bool, as_json: bool, verbose: bool) -> list[ExerciseResult]:
    """Grade each exercise on one server session; the session is closed even on Ctrl-C."""
    from checker.launch import default_launcher

    workspace = None if solution else ctx.workspace()
    console = None if as_json else _console()
    results = []
    launcher = default_launcher()  # imports SQLAlchemy & co. while Postgres starts
    try:
        session = ctx.database_session(spares=1 if len(exercises) > 1 else 0)
    except BaseException:
        launcher.close()
        raise
    try:
        for exercise in exercises:
            if solution:
                with materialised(exercise, "solution") as folder:
                    result = grade(job_for(exercise, folder), session, launcher=launcher)
            else:
                result = grade(job_for(exercise, workspace.folder(exercise)), session, launcher=launcher)
                workspace.progress.record_result(
                    exercise.full_id, result.status, grader_fingerprint(exercise), result.to_json()
                )
                workspace.progress.set("position", exercise.full_id)
            results.append(result)
            if console is not None:
                from course.render import print_result

                print_result(console, result, verbose=verbose)
                if result.status != "pass" and not solution:
                    console.print(f"  [dim]Stuck? `course hint {exercise.id}` · edit {workspace.folder(exercise)}[/]")
    finally:
        session.close()
        launcher.close()
    return results


def watch_exercise(ctx, query: str | None) -> None:
    """Re-grade on every save until Ctrl-C."""
    from watchfiles import watch

    from course.render import print_result

    workspace = ctx.workspace()
    if query is None:
        position = workspace.progress.get("position")
        query = position or ctx.modules[0].exercises[0].full_id
    exercise = ctx.exercise(query)
    folder = workspace.folder(exercise)
    console = _console()
    from checker.launch import default_launcher

    launcher = default_launcher()
    session = ctx.database_session()
    try:
        while True:
            console.rule(f"{exercise.full_id} · {time.strftime('%H:%M:%S')}")
            before = _snapshot(folder)
            result = grade(job_for(exercise, folder), session, launcher=launcher)
            workspace.progress.record_result(exercise.full_id, result.status, grader_fingerprint(exercise), result.to_json())
            print_result(console, result)
            console.print(f"[dim]Watching {folder} — save a file to re-check, Ctrl-C to stop.[/]")
            # a save made while grading, or before the watcher is armed, is caught by the snapshot
            for changes in watch(folder, debounce=300, step=100, watch_filter=_source_filter,
                                 rust_timeout=1000, yield_on_timeout=True):
                if changes or _snapshot(folder) != before:
                    break
    except KeyboardInterrupt:
        click.echo("")
    finally:
        session.close()
        launcher.close()


def _snapshot(folder: Path) -> dict[str, float]:
    """Modification times of the exercise's source files."""
    times = {}
    for path in folder.rglob("*"):
        if path.is_file() and _source_filter(None, str(path)):
            times[str(path)] = path.stat().st_mtime_ns
    return times


def _source_filter(change, path: str) -> bool:
    """Only the exercise's sources count as a save (not files the learner's code writes)."""
    return path.endswith((".py", ".ini", ".mako")) and "__pycache__" not in path
