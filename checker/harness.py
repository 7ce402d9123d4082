"""The grading subprocess: import the learner's code, run the checks, report on a private pipe.

The parent (``checker.runner``) writes a job (JSON) to our stdin and reads results as JSON lines
from the file descriptor named in the job. The learner's prints go to stdout/stderr, which the
parent keeps apart, so nothing the learner prints can pass for a result.

Usage: ``python -m checker.harness`` (job on stdin).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import os
import sys
import time
import traceback
from pathlib import Path


class Channel:
    """JSON lines to the parent over a pipe only we (and not print) write to."""

    def __init__(self, fd: int):
        self._file = os.fdopen(fd, "w", buffering=1, encoding="utf-8", closefd=True)

    def send(self, kind: str, **data) -> None:
        self._file.write(json.dumps({"type": kind, **data}, default=str) + "\n")
        self._file.flush()


def learner_traceback(error: BaseException, learner_dir: Path) -> str:
    """The exception with only the learner's frames; a SyntaxError shows the line and caret."""
    root = str(learner_dir)
    if isinstance(error, SyntaxError) and error.filename and error.filename.startswith(root):
        where = f"{Path(error.filename).relative_to(learner_dir)}:{error.lineno}"
        text = (error.text or "").rstrip("\n")
        caret = ""
        if text and error.offset:
            caret = "\n    " + " " * (error.offset - 1 - (len(text) - len(text.lstrip()))) + "^"
        return f"{where}: {type(error).__name__}: {error.msg}\n    {text.strip()}{caret}"
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename.startswith(root)]
    lines = []
    for frame in frames[-6:]:
        lines.append(f"{Path(frame.filename).relative_to(learner_dir)}:{frame.lineno} in {frame.name}")
        if frame.line:
            lines.append(f"    {frame.line}")
    summary = "".join(traceback.format_exception_only(type(error), error)).strip().splitlines()
    first = "\n".join(summary[:3])
    lines.append(first[:400] + ("…" if len(first) > 400 else ""))
    return "\n".join(lines)


def touches_learner(error: BaseException, learner_dir: Path) -> bool:
    root = str(learner_dir)
    if isinstance(error, SyntaxError) and (error.filename or "").startswith(root):
        return True
    return any(f.filename.startswith(root) for f in traceback.extract_tb(error.__traceback__))


_COMPILED: dict[tuple[str, int, int], object] = {}
"""Compiled ``checks.py`` files by (path, mtime, size): the warm worker compiles each version once
and every child it forks starts with the code (see ``checker.warm``)."""


def compile_checks(checks_file: Path):
    stat = checks_file.stat()
    key = (str(checks_file), stat.st_mtime_ns, stat.st_size)
    if key not in _COMPILED:
        _COMPILED[key] = compile(checks_file.read_bytes(), str(checks_file), "exec", dont_inherit=True)
    return _COMPILED[key]


def load_checks(checks_file: Path):
    """Import ``checks.py`` and return what it declared."""
    from checker.api import take_registry

    take_registry()
    spec = importlib.util.spec_from_file_location("course_checks", checks_file)
    module = importlib.util.module_from_spec(spec)
    sys.modules["course_checks"] = module
    exec(compile_checks(checks_file), module.__dict__)
    return take_registry()


class RunScope:
    """Values of run-scoped fixtures (and their teardowns), kept across the checks of a run."""

    def __init__(self):
        self.values: dict[str, object] = {}
        self.teardowns: list = []

    def teardown(self) -> None:
        _finish(self.teardowns)


RUN_SCOPED_BUILTINS = frozenset({"learner", "database_url", "db", "admin", "schema", "captured_engine", "environment"})
"""Built-ins a run-scoped fixture may use (``sql`` belongs to one check)."""


class FixtureResolver:
    """Resolve a check's parameters by name, pytest-style, with teardown for generator fixtures."""

    def __init__(self, registry, seed: dict[str, object], run: RunScope | None = None):
        from checker.fixtures import BUILTINS

        self._specs = {name: fn for name, fn in BUILTINS.items()}
        self._specs.update({name: spec.function for name, spec in registry.fixtures.items()})
        self._scopes = {name: spec.scope for name, spec in registry.fixtures.items()}
        self._values = dict(seed)
        self._teardowns: list = []
        self._run = run or RunScope()

    def resolve(self, name: str, chain: tuple[str, ...] = ()):
        run_scoped = self._scopes.get(name) == "run"
        if run_scoped and name in self._run.values:
            return self._run.values[name]
        if name in self._values:
            return self._values[name]
        if name in chain:
            raise RuntimeError(f"fixture cycle: {' -> '.join(chain + (name,))}")
        function = self._specs.get(name)
        if function is None:
            raise RuntimeError(f"unknown fixture {name!r} (built-in: {', '.join(sorted(self._specs))})")
        parameters = list(inspect.signature(function).parameters)
        if run_scoped:
            for parameter in parameters:
                if self._scopes.get(parameter, "run" if parameter in RUN_SCOPED_BUILTINS else "check") != "run":
                    raise RuntimeError(
                        f"run-scoped fixture {name!r} cannot use {parameter!r}, which is made for each check"
                    )
        args = [self.resolve(p, chain + (name,)) for p in parameters]
        value = function(*args)
        if inspect.isgenerator(value):
            generator = value
            value = next(generator)
            (self._run.teardowns if run_scoped else self._teardowns).append(generator)
        (self._run.values if run_scoped else self._values)[name] = value
        return value

    def teardown(self) -> None:
        _finish(self._teardowns)


def _finish(teardowns: list) -> None:
    """Run generator fixtures' teardowns, last made first."""
    for generator in reversed(teardowns):
        try:
            next(generator)
        except StopIteration:
            pass
    teardowns.clear()


EMPTY_PUBLIC_SCHEMA = """
SELECT to_regnamespace('public') IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM pg_class WHERE relnamespace = to_regnamespace('public'))
   AND NOT EXISTS (SELECT 1 FROM pg_type WHERE typnamespace = to_regnamespace('public'))
   AND NOT EXISTS (SELECT 1 FROM pg_proc WHERE pronamespace = to_regnamespace('public'))
"""


def reset_database(environment) -> None:
    """Give the next check an empty database: drop and recreate the public schema (unless it is
    empty already, as it is for the first check of a run).

    Done as the learner's role, which owns the database (and so the public schema) and every
    object its code created, on the connection the checks use anyway; as the superuser only if
    that is refused (a grader made objects as ``admin``). A transaction the learner's code left
    open holds locks: if the drop has to wait for one, that session is ended and the drop retried.
    """
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError, OperationalError

    for url in dict.fromkeys([environment.database_url, environment.admin_url]):
        engine = environment.engine(url)
        try:
            with engine.connect() as conn:
                if conn.execute(text(EMPTY_PUBLIC_SCHEMA)).scalar():
                    conn.commit()
                    return
                for attempt in (1, 2):
                    conn.execute(text("SET LOCAL lock_timeout = '500ms'"))
                    try:
                        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                        break
                    except OperationalError:  # lock_timeout: a session left in a transaction
                        conn.rollback()
                        if attempt == 2:
                            raise
                        conn.execute(text(END_IDLE_TRANSACTIONS))
                conn.execute(text("CREATE SCHEMA public AUTHORIZATION pg_database_owner"))
                conn.commit()
                return
        except DBAPIError:
            if url == environment.admin_url:
                raise


END_IDLE_TRANSACTIONS = """
SELECT pg_terminate_backend(pid) FROM pg_stat_activity
 WHERE datname = current_database() AND pid <> pg_backend_pid()
   AND state LIKE 'idle in transaction%' AND usename = current_user
"""


def run_check(spec, registry, environment, learner_dir: Path, run: RunScope | None = None):
    """Run one check; return (status, message, sql state)."""
    from checker.api import CheckFailed
    from checker.capture import capture
    from checker.fixtures import Sql

    sql = Sql()
    resolver = FixtureResolver(registry, {"environment": environment, "sql": sql}, run)
    status, message = "pass", ""
    with capture() as everything:
        try:
            args = [resolver.resolve(name) for name in spec.parameters]
            spec.function(*args)
        except CheckFailed as failure:
            status, message = "fail", str(failure)
        except AssertionError as failure:
            status = "fail"
            message = str(failure) or _assertion_source(failure)
        except Exception as error:  # the learner's code raised, or the grader is broken
            if touches_learner(error, learner_dir):
                status = "fail"
                message = "your code raised an exception:\n" + learner_traceback(error, learner_dir)
            elif _from_the_database_layer(error):
                # raised by SQLAlchemy or Postgres while the grader used the learner's models
                status = "fail"
                summary = "".join(traceback.format_exception_only(type(error), error)).strip().splitlines()
                message = (
                    "SQLAlchemy or Postgres refused while your models were being used:\n"
                    + "\n".join(summary[:4])
                )
            else:
                status = "error"
                message = "the grader itself failed (please report this):\n" + "".join(
                    traceback.format_exception(type(error), error, error.__traceback__)[-4:]
                ).strip()
        finally:
            try:
                resolver.teardown()
            except Exception as error:
                if status == "pass":
                    status, message = "error", f"fixture teardown failed: {error}"
    return status, message, sql, everything


def _from_the_database_layer(error: BaseException) -> bool:
    try:
        import psycopg
        from sqlalchemy.exc import SQLAlchemyError
    except ImportError:
        return False
    return isinstance(error, SQLAlchemyError | psycopg.Error)


def _assertion_source(failure: AssertionError) -> str:
    frames = traceback.extract_tb(failure.__traceback__)
    return f"assertion failed: {frames[-1].line}" if frames else "assertion failed"


def quiet_library_warnings(warnings) -> None:
    """Silence warnings about the grader's own tools that would only confuse a learner
    (the learner's own deprecation warnings, e.g. SQLAlchemy's legacy APIs, stay visible)."""
    warnings.filterwarnings("ignore", message=r".*httpx2.*")


def main() -> None:
    """Subprocess mode: the job arrives on stdin, results go to the fd it names."""
    job = json.loads(sys.stdin.read())
    sys.stdin.close()
    sys.stdin = open(os.devnull)  # learner code gets no input
    run_job(job, job["results_fd"])


MEMORY_LIMIT = 2 << 30
"""Bytes of heap the learner's process may use (RLIMIT_DATA): a memory bomb gets MemoryError."""
OUTPUT_FILE_LIMIT = 64 << 20
"""Bytes any one file may grow to (RLIMIT_FSIZE): 50 MB of prints cannot fill the disk."""


def limit_resources() -> None:
    """Resource limits for the learner's process (where the OS has them)."""
    try:
        import resource
        import signal
    except ImportError:  # not on this platform: the time limit still applies
        return
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write fails instead of killing us
    for limit, value in ((resource.RLIMIT_DATA, MEMORY_LIMIT), (resource.RLIMIT_FSIZE, OUTPUT_FILE_LIMIT), (resource.RLIMIT_CORE, 0)):
        try:
            soft, hard = resource.getrlimit(limit)
            if hard == resource.RLIM_INFINITY or hard > value:
                resource.setrlimit(limit, (value, hard))
        except (ValueError, OSError):
            pass


def run_job(job: dict, results_fd: int, engines: dict | None = None) -> None:
    """Import the learner's code and run the checks of ``job``, reporting on ``results_fd``.

    ``engines``: grader engines made (and connected) ahead of time, by URL (see ``checker.warm``).
    """
    import warnings

    limit_resources()
    quiet_library_warnings(warnings)
    channel = Channel(results_fd)
    learner_dir = Path(job["learner_dir"]).resolve()
    os.environ["DATABASE_URL"] = job["database_url"]
    os.chdir(learner_dir)
    sys.path.insert(0, str(learner_dir))
    sys.dont_write_bytecode = True  # no __pycache__ in the student's folder

    from checker import capture
    from checker.fixtures import Environment, Learner
    from checker.report import statement_views

    capture.set_learner_root(learner_dir)
    capture.install()
    try:
        registry = load_checks(Path(job["checks_file"]))
    except Exception as error:
        channel.send("grader-error", message=f"cannot load the checks of this exercise: {type(error).__name__}: {error}")
        return
    wanted = job.get("only")
    checks = [c for c in registry.checks if not wanted or c.name in wanted]
    channel.send("checks", checks=[{"name": c.name, "title": c.title, "timeout": c.timeout} for c in checks])

    modules = {}
    environment = Environment(Learner(learner_dir, modules), job["database_url"], job["admin_url"], dict(engines or {}))
    for name in job["modules"]:
        channel.send("importing", module=name)
        try:
            modules[name] = importlib.import_module(name)
        except BaseException as error:  # SystemExit and KeyboardInterrupt at import are errors too
            channel.send("import-error", module=name, message=learner_traceback(error, learner_dir))
            return

    run = RunScope()
    for spec in checks:
        channel.send("start", name=spec.name)
        started = time.perf_counter()
        reset_database(environment)
        status, message, sql, everything = run_check(spec, registry, environment, learner_dir, run)
        views = statement_views(everything, sql.flagged)
        channel.send(
            "result",
            name=spec.name,
            title=spec.title,
            status=status,
            message=message,
            duration_s=time.perf_counter() - started,
            sql=[view.sql for view in views],
            statements=[view.__dict__ for view in views],
        )
    try:
        run.teardown()
    except Exception:  # every result is in; show the grader's slip in the output, nothing more
        traceback.print_exc()
    environment.dispose()
    channel.send("done")


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)  # do not wait for threads the learner may have left running
