"""In the grading child: import the learner's code, run the checks, report on a private pipe.

The worker (``checker.process.warm``) forks us with the job, the run's secret (the learner role's
database URL and a signing key) and the write end of the results pipe. Every event we send is
numbered and signed with the key (see :class:`Channel`), so the runner can tell our report from
lines that learner code writes into the pipe. The learner's prints go to stdout/stderr, which the
runner keeps apart. What the harness relies on is bound before any learner module is imported,
and checked again after every check (:class:`Integrity`).
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import importlib.util
import inspect
import json
import os
import sys
import time
import traceback
from pathlib import Path


def sign(key: bytes, number: int, payload: bytes) -> str:
    """The signature of event ``number`` (the runner computes the same to check it)."""
    return hmac.new(key, b"%d:" % number + payload, hashlib.sha256).hexdigest()


class Channel:
    """Signed, numbered JSON lines to the runner: ``<signature> <json>``.

    The functions it writes with are bound here, before learner code runs, so rebinding
    ``os.write`` or ``json.dumps`` later changes nothing.
    """

    def __init__(self, fd: int, key: bytes):
        self._fd = fd
        self._number = 0
        dumps, write, signer = json.dumps, os.write, sign

        def send(kind: str, **data) -> None:
            payload = dumps({"type": kind, "n": self._number, **data}, default=str).encode()
            line = signer(key, self._number, payload).encode() + b" " + payload + b"\n"
            self._number += 1
            view = memoryview(line)
            while view:
                view = view[write(fd, view):]

        self.send = send


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
and every child it forks starts with the code (see ``checker.process.warm``)."""


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
    """Run one check; return (status, message, sql state)."""
    from checker.api import CheckFailed
    from checker.capture.log import capture
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


def refuse(results_fd: int, secret: dict, message: str) -> None:
    """Report that the run cannot happen (signed, so the runner believes it)."""
    Channel(results_fd, bytes.fromhex(secret.get("key", ""))).send("grader-error", message=message)


def run_job(job: dict, secret: dict, results_fd: int, engines: dict | None = None, *, confined: bool = False) -> None:
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
    learner_dir = Path(job["learner_dir"]).resolve()
    os.environ["DATABASE_URL"] = database_url
    os.chdir(learner_dir)
    sys.path.insert(0, str(learner_dir))
    sys.dont_write_bytecode = True  # no __pycache__ in the student's folder

    capture.set_learner_root(learner_dir)
    capture.install()
    try:
        registry = load_checks(Path(job["checks_file"]))
    except Exception as error:
        send("grader-error", message=f"cannot load the checks of this exercise: {type(error).__name__}: {error}")
        return
    wanted = job.get("only")
    checks = [c for c in registry.checks if not wanted or c.name in wanted]
    send("checks", checks=[{"name": c.name, "title": c.title, "timeout": c.timeout} for c in checks])

    # everything the checks rely on, bound now: rebinding a name later is seen, and reported
    run_one, reset, views_of, perf_counter = run_check, reset_database, statement_views, time.perf_counter
    changed_since_import = Integrity(registry).changed  # bound now: rebinding Integrity.changed later is seen
    modules = {}
    environment = Environment(Learner(learner_dir, modules), database_url, dict(engines or {}))
    for name in job["modules"]:
        send("importing", module=name)
        try:
            modules[name] = importlib.import_module(name)
        except BaseException as error:  # SystemExit and KeyboardInterrupt at import are errors too
            send("import-error", module=name, message=learner_traceback(error, learner_dir))
            return
        if changed := changed_since_import():
            send("tampered", message=f"importing {name}.py changed the grader's own code ({changed})")
            return

    run = RunScope()
    for spec in checks:
        send("start", name=spec.name)
        started = perf_counter()
        reset(environment)
        status, message, sql, everything = run_one(spec, registry, environment, learner_dir, run)
        if changed := changed_since_import():
            send("tampered", message=f"while check {spec.name} ran, the grader's own code was changed ({changed})")
            return
        views = views_of(everything, sql.flagged)
        send(
            "result",
            name=spec.name,
            title=spec.title,
            status=status,
            message=message,
            duration_s=perf_counter() - started,
            statements=[view.__dict__ for view in views],
        )
    try:
        run.teardown()
    except Exception:  # every result is in; show the grader's slip in the output, nothing more
        traceback.print_exc()
    environment.dispose()
    send("done")


class Integrity:
    """What the checks rely on, as it was before learner code ran: the grader's modules (their
    functions and classes), the checks and their fixtures, and the library functions the graders
    judge with. :meth:`changed` names what was rebound since.

    This catches a submission that patches the grader to pass; it cannot stop code that takes the
    same trouble to undo its patch in time (``docs/security.md`` says what remains)."""

    GUARDED_MODULES = ("builtins", "json", "os", "hmac", "hashlib", "sqlalchemy", "sqlalchemy.orm", "sqlalchemy.inspection")
    GUARDED_CLASSES = (
        ("sqlalchemy.engine.reflection", "Inspector"), ("sqlalchemy.engine.base", "Connection"),
        ("sqlalchemy.engine.base", "Engine"), ("sqlalchemy.orm.session", "Session"),
        ("sqlalchemy.engine.result", "Result"), ("sqlalchemy.engine.result", "ScalarResult"),
    )
    """The library functions the graders judge with (a few namespaces: reading every object of a
    forked child's libraries would copy their memory pages, for every run)."""

    def __init__(self, registry):
        self._namespaces = []
        for name in [n for n in sys.modules if n == "checker" or n.startswith("checker.") or n == "course_checks"]:
            module = sys.modules[name]
            self._watch(name, module.__dict__)
            for value in list(module.__dict__.values()):
                if isinstance(value, type) and getattr(value, "__module__", "") == name:
                    self._watch(f"{name}.{value.__name__}", value.__dict__)
        for name in self.GUARDED_MODULES:
            if name in sys.modules:
                self._watch(name, sys.modules[name].__dict__)
        for module_name, class_name in self.GUARDED_CLASSES:
            cls = getattr(sys.modules.get(module_name), class_name, None)
            if isinstance(cls, type):
                self._watch(f"{module_name}.{class_name}", cls.__dict__)
        self._functions = [(spec.name, spec.function, spec.function.__code__) for spec in registry.checks]
        self._functions += [(name, spec.function, spec.function.__code__) for name, spec in registry.fixtures.items()]

    def _watch(self, label: str, namespace) -> None:
        keys = [key for key in list(namespace) if key not in ("__builtins__", "__warningregistry__")]
        self._namespaces.append((label, namespace, keys, [id(namespace[key]) for key in keys]))

    def changed(self, _list=list, _map=map, _id=id, _zip=zip, _next=next, _len=len) -> str:
        # the builtins it judges with are bound here, when the grader is imported: rebinding
        # ``builtins.id`` or ``map`` later cannot blind it
        for label, namespace, keys, before in self._namespaces:
            if _list(_map(_id, _map(namespace.get, keys, [_MISSING] * _len(keys)))) != before:
                key = _next(k for k, i in _zip(keys, before, strict=True) if _id(namespace.get(k, _MISSING)) != i)
                return f"{label}.{key}"
        for name, function, code in self._functions:
            if function.__code__ is not code:
                return f"check {name}"
        return ""


_MISSING = object()
