"""In the grading child: import the learner's code, run the checks, report on a private pipe.

The worker (``checker.process.warm``) forks us with the job, the run's secret (the learner role's
database URL and a signing key) and the write end of the results pipe. Every event we send is
numbered and signed with the key (``checker.process.channel``), so the runner can tell our
report from lines that learner code writes into the pipe. The learner's prints go to
stdout/stderr, which the runner keeps apart. What the harness relies on is bound before any
learner module is imported, and checked again after every check
(``checker.process.integrity``).

Its helpers each do one job: ``checker.resolver`` resolves a check's fixtures,
``checker.tracebacks`` shapes the learner's tracebacks, ``checker.wire`` names the events.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType

from checker.process.channel import Channel
from checker.process.integrity import Integrity
from checker.resolver import FixtureResolver, RunScope
from checker.results import CheckResult
from checker.tracebacks import assertion_source, grader_failure, learner_traceback, summary, touches_learner
from checker.wire import Event, GradingJob

__all__ = [  # learner_traceback lives in checker.tracebacks; still importable from here for older checks
    "compile_checks",
    "flush_streams",
    "keep_checks",
    "learner_traceback",
    "load_checks",
    "quiet_library_warnings",
    "refuse",
    "reset_database",
    "run_check",
    "run_job",
]


_COMPILED: dict[tuple[str, int, int], object] = {}
"""Compiled ``checks.py`` files by (path, mtime, size): the warm worker compiles each version once
and every child it forks starts with the code (see ``checker.process.warm``)."""


_KEPT: dict[tuple[str, int, int], tuple[ModuleType, object]] = {}
"""``checks.py`` files the warm worker ran while idle (:func:`keep_checks`), with what they declared."""


def _version(checks_file: Path) -> tuple[str, int, int]:
    stat = checks_file.stat()
    return (str(checks_file), stat.st_mtime_ns, stat.st_size)


def compile_checks(checks_file: Path):
    key = _version(checks_file)
    if key not in _COMPILED:
        _COMPILED[key] = compile(checks_file.read_bytes(), str(checks_file), "exec", dont_inherit=True)
    return _COMPILED[key]


def load_checks(checks_file: Path):
    """Import ``checks.py`` and return what it declared (what the warm worker kept of this version
    of the file, if it did: this process is a fork of it, so what a run changes stays in the run)."""
    from checker.api import take_registry

    kept = _KEPT.get(_version(checks_file))
    if kept is not None:
        sys.modules["course_checks"] = kept[0]
        return kept[1]
    take_registry()
    spec = importlib.util.spec_from_file_location("course_checks", checks_file)
    if spec is None:
        raise ImportError(f"{checks_file} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules["course_checks"] = module
    exec(compile_checks(checks_file), module.__dict__)
    return take_registry()


KEEP_LIMIT_S = 2.0
"""How long a ``checks.py``'s top level may run in the worker (:func:`keep_checks`)."""


def keep_checks(checks_file: Path) -> None:
    """In the warm worker, while no job waits: run this version of ``checks.py`` once and keep what
    it declared, so that the judge and the witness of its later runs, forked from here, do not each
    run it again. A file that fails to load, or whose top level runs past :data:`KEEP_LIMIT_S`
    (a top level is imports and declarations), is not kept: its runs load it themselves."""
    import signal

    def too_long(_signal, _frame):
        raise TimeoutError("checks.py's top level ran too long to be kept")

    alarm = getattr(signal, "SIGALRM", None)
    previous = signal.signal(alarm, too_long) if alarm is not None else None
    try:
        key = _version(checks_file)
        if key in _KEPT:
            return
        if alarm is not None:
            signal.setitimer(signal.ITIMER_REAL, KEEP_LIMIT_S)
        registry = load_checks(checks_file)
        if alarm is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)  # before the finally: no alarm can escape it
        _KEPT[key] = (sys.modules["course_checks"], registry)
    except BaseException:  # noqa: BLE001 - a broken checks.py is reported by its runs, not here
        pass
    finally:
        if alarm is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(alarm, previous if previous is not None else signal.SIG_DFL)
        sys.modules.pop("course_checks", None)


EMPTY_PUBLIC_SCHEMA = """
SELECT to_regnamespace('public') IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspowner = (SELECT oid FROM pg_roles WHERE rolname = current_user) AND nspname <> 'public')
   AND NOT EXISTS (SELECT 1 FROM pg_class WHERE relnamespace = to_regnamespace('public'))
   AND NOT EXISTS (SELECT 1 FROM pg_type WHERE typnamespace = to_regnamespace('public'))
   AND NOT EXISTS (SELECT 1 FROM pg_proc WHERE pronamespace = to_regnamespace('public'))
"""


def reset_database(environment) -> None:
    """Give the next check an empty database: drop and recreate the public schema (unless it is
    empty already, as it is for the first check of a run), and drop any other schema the
    learner's code made.

    Done as the learner's role, which owns the database (and so the public schema) and every
    object its code created, on the connection the checks use anyway. No process that runs
    learner code has superuser rights. A transaction the learner's code left open holds locks: if
    the drop has to wait for one, that session is ended and the drop retried.
    """
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    engine = environment.engine(environment.database_url)
    with engine.connect() as conn:
        if conn.execute(text(EMPTY_PUBLIC_SCHEMA)).scalar():
            conn.commit()
            return
        for attempt in (1, 2):
            conn.execute(text("SET LOCAL lock_timeout = '500ms'"))
            try:
                for (schema,) in conn.execute(text(LEARNER_SCHEMAS)).fetchall():
                    quoted = '"' + schema.replace('"', '""') + '"'
                    conn.execute(text(f"DROP SCHEMA IF EXISTS {quoted} CASCADE"))
                conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                break
            except OperationalError:  # lock_timeout: a session left in a transaction
                conn.rollback()
                if attempt == 2:
                    raise
                conn.execute(text(END_IDLE_TRANSACTIONS))
        conn.execute(text("CREATE SCHEMA public AUTHORIZATION pg_database_owner"))
        conn.commit()


LEARNER_SCHEMAS = """
SELECT nspname FROM pg_namespace
 WHERE nspowner = (SELECT oid FROM pg_roles WHERE rolname = current_user) AND nspname <> 'public' AND nspname NOT LIKE 'pg\\_%'
"""


END_IDLE_TRANSACTIONS = """
SELECT pg_terminate_backend(pid) FROM pg_stat_activity
 WHERE datname = current_database() AND pid <> pg_backend_pid()
   AND state LIKE 'idle in transaction%' AND usename = current_user
"""


def run_check(spec, registry, environment, learner_dir: Path, run: RunScope | None = None):
    """Run one check; return (status, message, sql state, captured statements)."""
    from checker.api import CheckFailed
    from checker.capture.log import capture
    from checker.fixtures import Sql

    sql = Sql()
    resolver = FixtureResolver(registry, {"environment": environment, "sql": sql}, run)
    status, message = "pass", ""
    with capture() as everything:
        try:
            args = [resolver.resolve(name) for name in spec.parameters]
            returned = spec.function(*args)
            if inspect.isgenerator(returned) or inspect.isasyncgen(returned):  # it would "pass" without running
                raise TypeError(f"check {spec.name!r} yields: a check runs once and returns (a fixture may yield)")
            if inspect.isawaitable(returned):  # an ``async def`` check: it has run only once awaited
                resolver.await_(returned)
        except CheckFailed as failure:
            status, message = "fail", str(failure)
        except AssertionError as failure:
            status = "fail"
            message = str(failure) or assertion_source(failure)
        except Exception as error:  # the learner's code raised, or the grader is broken
            if touches_learner(error, learner_dir):
                status = "fail"
                message = "your code raised an exception:\n" + learner_traceback(error, learner_dir)
            elif _from_the_database_layer(error):
                # raised by SQLAlchemy or Postgres while the grader used the learner's models
                status = "fail"
                message = "SQLAlchemy or Postgres refused while your models were being used:\n" + "\n".join(summary(error, 4))
            else:
                status = "error"
                message = "the grader itself failed (please report this):\n" + grader_failure(error)
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


def quiet_library_warnings(warnings) -> None:
    """Silence warnings about the grader's own tools that would only confuse a learner
    (the learner's own deprecation warnings, e.g. SQLAlchemy's legacy APIs, stay visible)."""
    warnings.filterwarnings("ignore", message=r".*httpx2.*")


def refuse(results_fd: int, secret: dict, message: str) -> None:
    """Report that the run cannot happen (signed, so the runner believes it)."""
    Channel(results_fd, bytes.fromhex(secret.get("key", ""))).send(Event.GRADER_ERROR, message=message)


def run_job(job: GradingJob, secret: dict, results_fd: int, engines: dict | None = None, *, confined: bool = False) -> None:
    """Import the learner's code and run the checks of ``job``, reporting on ``results_fd``.

    ``secret``: ``database_url`` (the learner role's) and ``key`` (signs every event).
    ``engines``: grader engines made (and connected) ahead of time, by URL (see ``checker.process.warm``).
    ``confined``: this process runs as a uid of its own (see ``checker.process.sandbox``).
    """
    import warnings

    from checker.capture import log as capture
    from checker.capture.report import statement_views
    from checker.fixtures import Environment, Learner
    from checker.process import sandbox

    channel = Channel(results_fd, bytes.fromhex(secret["key"]))
    send = channel.send
    database_url = secret["database_url"]
    del secret
    sandbox.apply_limits(processes=confined)
    quiet_library_warnings(warnings)
    learner_dir = job.learner_dir.resolve()
    os.environ["DATABASE_URL"] = database_url
    os.chdir(learner_dir)
    sys.path.insert(0, str(learner_dir))
    sys.dont_write_bytecode = True  # no __pycache__ in the student's folder

    capture.set_learner_root(learner_dir)
    capture.install()
    try:
        registry = load_checks(job.checks_file)
    except Exception as error:
        send(Event.GRADER_ERROR, message=f"cannot load the checks of this exercise: {type(error).__name__}: {error}")
        return
    checks = [c for c in registry.checks if not job.only or c.name in job.only]
    send(Event.CHECKS, checks=[{"name": c.name, "title": c.title, "timeout": c.timeout} for c in checks])

    # everything the checks rely on, bound now: rebinding a name later is seen, and reported
    run_one, reset, views_of, perf_counter = run_check, reset_database, statement_views, time.perf_counter
    result_of, show_traceback = CheckResult, learner_traceback
    IMPORTING, IMPORT_ERROR, TAMPERED, START, RESULT, DONE = (  # noqa: N806 - the kinds, as constants
        Event.IMPORTING,
        Event.IMPORT_ERROR,
        Event.TAMPERED,
        Event.START,
        Event.RESULT,
        Event.DONE,
    )
    changed_since_import = Integrity(registry).changed  # bound now: rebinding Integrity.changed later is seen
    modules: dict[str, ModuleType] = {}
    environment = Environment(Learner(learner_dir, modules), database_url, dict(engines or {}))
    if registry.acts:  # a judged exercise run the portable way: its acts run here (testimony)
        from checker.judge.inprocess import InProcessLearner

        environment.learner = InProcessLearner(learner_dir, modules, database_url)
    for name in job.modules:
        send(IMPORTING, module=name)
        try:
            modules[name] = importlib.import_module(name)
        except BaseException as error:  # SystemExit and KeyboardInterrupt at import are errors too
            send(IMPORT_ERROR, module=name, message=show_traceback(error, learner_dir))
            return
        if changed := changed_since_import():
            send(TAMPERED, message=f"importing {name}.py changed the grader's own code ({changed})")
            return

    run = RunScope()
    for spec in checks:
        send(START, name=spec.name)
        started = perf_counter()
        reset(environment)
        status, message, sql, everything = run_one(spec, registry, environment, learner_dir, run)
        if changed := changed_since_import():
            send(TAMPERED, message=f"while check {spec.name} ran, the grader's own code was changed ({changed})")
            return
        result = result_of(spec.name, status, message, spec.title, views_of(everything, sql.flagged), perf_counter() - started)
        send(RESULT, **result.to_wire())
    try:
        run.teardown()
    except Exception:  # every result is in; show the grader's slip in the output, nothing more
        traceback.print_exc()
    environment.dispose()
    flush_streams()  # what the learner printed is in the output file before we end
    send(DONE)


def flush_streams() -> None:
    """Flush ``sys.stdout`` and ``sys.stderr``, whatever the learner's code made of them."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a stream the learner's code closed or replaced
            pass
