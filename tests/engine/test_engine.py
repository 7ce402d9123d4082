"""The grading engine against a real Postgres: isolation, time limits, faults, SQL capture."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

from checker.process.launch import SpawnLauncher, WarmWorker, default_launcher
from checker.process.runner import grade as grade_with
from checker.wire import GradingJob


@pytest.fixture(scope="module", params=["cold", "warm", "spawned"])
def launcher(request):
    """Every engine test runs on the cold path (a fresh process per run), the warm path (as this
    platform has it: a forking worker, or spawned interpreters in the portable mode) and the
    portable warm path (a pool of spawned interpreters) on any platform."""
    chosen = {"cold": lambda: default_launcher(warm=False), "warm": default_launcher, "spawned": SpawnLauncher}[request.param]()
    yield chosen
    chosen.close()


@pytest.fixture
def grade(launcher):
    return lambda job, databases: grade_with(job, databases, launcher=launcher)


CHECKS = """
from sqlalchemy import text
from checker import check, fail

@check("runs", "the learner function runs")
def runs(learner):
    learner.mod.run()

@check("second", "a second, independent check")
def second(learner, db):
    with db.connect() as conn:
        tables = conn.execute(text("select count(*) from pg_tables where schemaname = 'public'")).scalar()
    assert tables == 0, f"each check starts on an empty database, found {tables} tables"
"""


def make_job(tmp_path: Path, learner_source: str, checks: str = CHECKS, timeout: float = 5) -> GradingJob:
    learner_dir = tmp_path / "learner"
    learner_dir.mkdir()
    (learner_dir / "mod.py").write_text(textwrap.dedent(learner_source), encoding="utf-8")
    checks_file = tmp_path / "checks.py"
    checks_file.write_text(textwrap.dedent(checks), encoding="utf-8")
    return GradingJob("test/engine", checks_file, learner_dir, ["mod"], check_timeout_s=timeout)


def statuses(result) -> dict[str, str]:
    return {check.name: check.status for check in result.checks}


def test_a_passing_run_reports_each_check(tmp_path, databases, grade):
    job = make_job(
        tmp_path,
        """
        import os
        from sqlalchemy import create_engine, text
        engine = create_engine(os.environ["DATABASE_URL"])
        def run():
            with engine.begin() as conn:
                conn.execute(text("create table t (x int)"))
    """,
    )
    result = grade(job, databases)
    assert statuses(result) == {"runs": "pass", "second": "pass"}, result.checks
    assert result.status == "pass"
    assert any("create table t" in sql for sql in result.checks[0].sql)


def test_infinite_loop_in_a_check_times_out_and_the_next_check_still_runs(tmp_path, databases, grade):
    job = make_job(tmp_path, "def run():\n    while True:\n        pass\n", timeout=2)
    started = time.monotonic()
    result = grade(job, databases)
    assert time.monotonic() - started < 15
    assert statuses(result) == {"runs": "error", "second": "pass"}
    assert "timed out" in result.checks[0].message
    assert result.status == "error"


def test_infinite_loop_at_import_is_an_error_for_every_check(tmp_path, databases, grade, monkeypatch):
    monkeypatch.setattr("checker.process.runner.IMPORT_TIMEOUT_S", 3.0)
    job = make_job(tmp_path, "while True:\n    pass\n")
    started = time.monotonic()
    result = grade(job, databases)
    assert time.monotonic() - started < 15
    assert set(statuses(result).values()) == {"error"}
    assert "importing" in result.checks[0].message


def test_syntax_error_points_at_the_learners_line(tmp_path, databases, grade):
    job = make_job(tmp_path, "def run(:\n    pass\n")
    result = grade(job, databases)
    assert result.status == "error"
    assert all(check.status == "error" for check in result.checks)
    assert "mod.py:1" in result.checks[0].message
    assert "SyntaxError" in result.checks[0].message


def test_os_exit_in_a_check_is_an_error_and_the_run_goes_on(tmp_path, databases, grade):
    job = make_job(tmp_path, "import os\ndef run():\n    os._exit(3)\n")
    result = grade(job, databases)
    assert statuses(result) == {"runs": "error", "second": "pass"}
    assert "exited with code 3" in result.checks[0].message


def test_an_exception_in_learner_code_is_a_fail_with_the_learners_traceback(tmp_path, databases, grade):
    job = make_job(tmp_path, "def run():\n    return 1 / 0\n")
    result = grade(job, databases)
    assert statuses(result)["runs"] == "fail"
    message = result.checks[0].message
    assert "mod.py:2 in run" in message and "ZeroDivisionError" in message
    assert "site-packages" not in message and "checker/" not in message


def test_printing_a_fake_result_cannot_forge_a_pass(tmp_path, databases, grade):
    job = make_job(
        tmp_path,
        """
        import json, sys
        def run():
            print(json.dumps({"type": "result", "name": "runs", "status": "pass", "title": "x", "message": ""}))
            sys.stdout.flush()
            raise RuntimeError("not done")
    """,
    )
    result = grade(job, databases)
    assert statuses(result)["runs"] == "fail"
    assert '"status": "pass"' in result.output


def test_learner_code_connects_as_a_role_without_superuser(tmp_path, databases, grade):
    job = make_job(
        tmp_path,
        """
        import os
        from sqlalchemy import create_engine, text
        def run():
            with create_engine(os.environ["DATABASE_URL"], isolation_level="AUTOCOMMIT").connect() as conn:
                assert conn.execute(text("select rolsuper from pg_roles where rolname = current_user")).scalar() is False
                conn.execute(text("create database course_evil"))
    """,
    )
    result = grade(job, databases)
    assert statuses(result)["runs"] == "fail"
    assert "permission denied to create database" in result.checks[0].message


CAPTURE_CHECKS = """
from checker import check, fail

@check("capture", "capture N+1 facts")
def capture(learner, sql, db):
    from sqlalchemy.orm import Session
    learner.mod.setup(db)
    with sql.capture() as log:
        learner.mod.lazy()
    selects = log.selects
    lazy = log.lazy_loads
    assert len(selects) == 4, [s.sql for s in log]
    assert len(lazy) == 3 and all(s.lazy_load == "Parent.children" for s in lazy), [s.lazy_load for s in log]
    assert all(s.location and s.location.startswith("mod.py:") for s in lazy), [s.location for s in lazy]
    with sql.capture() as log:
        learner.mod.bulk_insert()
    inserts = log.of_kind("INSERT")
    assert len(inserts) == 1, f"insertmanyvalues batches count as one logical statement: {len(inserts)}"
    sql.flag(lazy, "the N+1")
    fail("shown")
"""

CAPTURE_LEARNER = """
import os
from sqlalchemy import ForeignKey, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

class Base(DeclarativeBase):
    pass

class Parent(Base):
    __tablename__ = "parents"
    id: Mapped[int] = mapped_column(primary_key=True)
    children: Mapped[list["Child"]] = relationship()

class Child(Base):
    __tablename__ = "children"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("parents.id"))

engine = create_engine(os.environ["DATABASE_URL"])

def setup(db):
    Base.metadata.create_all(db)
    with Session(db) as session:
        session.add_all([Parent(children=[Child(), Child()]) for _ in range(3)])
        session.commit()

def lazy():
    with Session(engine) as session:
        for parent in session.scalars(select(Parent)):
            parent.children

def bulk_insert():
    with Session(engine) as session:
        session.add_all([Parent() for _ in range(50)])
        session.commit()
"""


def test_capture_counts_logical_statements_and_names_lazy_loads(tmp_path, databases, grade):
    job = make_job(tmp_path, CAPTURE_LEARNER, CAPTURE_CHECKS)
    result = grade(job, databases)
    check = result.checks[0]
    assert check.status == "fail" and check.message == "shown", check.message
    flagged = [s for s in check.statements if s.flagged]
    assert len(flagged) == 1 and flagged[0].count == 3, check.statements
    assert flagged[0].note == "the N+1"


def test_the_database_is_dropped_after_grading_and_a_spare_is_ready(tmp_path, databases, grade):
    import psycopg

    def course_databases() -> set[str]:
        with psycopg.connect(databases.server.admin.conninfo(), autocommit=True) as conn:
            return {row[0] for row in conn.execute("select datname from pg_database where datname like 'course_%'")}

    assert databases.settle()
    spares = course_databases()
    assert len(spares) == databases.spares >= 1  # made ahead of time, off the path of a check
    job = make_job(tmp_path, "def run():\n    pass\n")
    result = grade(job, databases)
    assert result.status == "pass", result.checks
    assert databases.settle()
    after = course_databases()
    assert len(after) == databases.spares and not after & spares  # the used spare is gone, a new one waits


@pytest.mark.parametrize("source", ["import sys\nsys.exit(0)\n", "raise KeyboardInterrupt\n"])
def test_exit_at_import_is_an_import_error(tmp_path, databases, grade, source):
    result = grade(make_job(tmp_path, source), databases)
    assert result.status == "error"
    assert "cannot import mod.py" in result.checks[0].message


@pytest.mark.linux
def test_a_dead_warm_worker_falls_back_to_a_fresh_interpreter(tmp_path, databases):
    import os
    import signal

    worker = WarmWorker()
    try:
        job = make_job(tmp_path, "def run():\n    pass\n")
        assert grade_with(job, databases, launcher=worker).status == "pass"
        os.kill(worker._process.pid, signal.SIGKILL)
        worker._process.wait()
        result = grade_with(job, databases, launcher=worker)
        assert result.status == "pass", result.checks
    finally:
        worker.close()


RUN_SCOPED_CHECKS = """
import os
from sqlalchemy import create_engine, text
from checker import check, fixture

made = []

@fixture(scope="run")
def engine(database_url):
    made.append("engine")
    engine = create_engine(database_url)
    yield engine
    engine.dispose()
    print("torn down after", len(made), "uses", flush=True)

@fixture
def per_check():
    made.append("per-check")
    return len(made)

@check("first", "a run-scoped fixture is made once")
def first(engine, per_check):
    made.append("use")
    with engine.begin() as conn:
        conn.execute(text("create table t (x int)"))

@check("second", "and shared by the next check, on a fresh schema")
def second(engine, per_check):
    made.append("use")
    assert made.count("engine") == 1, made
    assert made.count("per-check") == 2, made
    with engine.connect() as conn:
        assert conn.execute(text("select count(*) from pg_tables where schemaname = 'public'")).scalar() == 0

@fixture(scope="run")
def wrong(sql):
    return sql

@check("mismatch", "a run-scoped fixture may not use a per-check one")
def mismatch(wrong):
    pass
"""


def test_run_scoped_fixtures_are_made_once_shared_and_torn_down_at_the_end(tmp_path, databases, grade):
    result = grade(make_job(tmp_path, "", RUN_SCOPED_CHECKS), databases)
    assert statuses(result) == {"first": "pass", "second": "pass", "mismatch": "error"}, result.checks
    assert "run-scoped fixture 'wrong' cannot use 'sql'" in result.checks[2].message
    assert "torn down after 5 uses" in result.output


def test_reset_drops_what_the_learner_made_and_ends_a_transaction_left_open(tmp_path, databases, grade):
    checks = """
from sqlalchemy import text
from checker import check

@check("make", "make objects and leave a transaction open on them")
def make(learner):
    learner.mod.make()

@check("empty", "the next check starts on an empty schema")
def empty(db):
    with db.connect() as conn:
        kinds = conn.execute(text(
            "select count(*) from pg_class where relnamespace = 'public'::regnamespace"
        )).scalar()
        types = conn.execute(text("select count(*) from pg_type where typnamespace = 'public'::regnamespace")).scalar()
    assert (kinds, types) == (0, 0), (kinds, types)
"""
    learner = """
        import os
        from sqlalchemy import create_engine, text
        engine = create_engine(os.environ["DATABASE_URL"])
        kept = []
        def make():
            with engine.begin() as conn:
                conn.execute(text("create type mood as enum ('ok', 'meh')"))
                conn.execute(text("create table t (x int, m mood)"))
                conn.execute(text("create view v as select x from t"))
            conn = engine.connect()
            conn.execute(text("insert into t values (1, 'ok')"))  # never committed: holds a lock on t
            kept.append(conn)
    """
    started = time.monotonic()
    result = grade(make_job(tmp_path, learner, checks), databases)
    assert statuses(result) == {"make": "pass", "empty": "pass"}, result.checks
    assert time.monotonic() - started < 10


CAPTURED_ENGINE_CHECKS = """
from sqlalchemy import text
from checker import check, fail

@check("captured", "captured_engine is captured, db is not, and they share one connection")
def captured(db, captured_engine, sql, database_url):
    with db.begin() as conn:
        conn.execute(text("create table seen (x int)"))
    with sql.capture() as log:
        with captured_engine.connect() as conn:
            conn.execute(text("select count(*) from seen"))
            backends = conn.execute(text(
                "select count(*) from pg_stat_activity where datname = current_database() and usename = current_user"
            )).scalar()
        with db.connect() as conn:
            conn.execute(text("select 'grader' from seen"))
    texts = [s.sql for s in log]
    assert any("count(*) from seen" in t for t in texts), texts
    assert not any("'grader'" in t for t in texts), texts
    assert backends == 1, f"{backends} connections"
"""


def test_captured_engine_is_captured_and_costs_no_connection(tmp_path, databases, grade):
    result = grade(make_job(tmp_path, "", CAPTURED_ENGINE_CHECKS), databases)
    assert statuses(result) == {"captured": "pass"}, result.checks


def test_run_fresh_imports_the_learners_code_anew_and_contains_its_faults(tmp_path, monkeypatch):
    import importlib
    import sys

    from checker.process.fresh import run_fresh

    (tmp_path / "state.py").write_text("import os\nSTARTS = []\nSTARTS.append(os.getpid())\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    state = importlib.import_module("state")
    state.STARTS.append("changed in this process")
    out = tmp_path / "out.txt"
    script = "import sys, state\nopen(sys.argv[1], 'w').write(repr(state.STARTS))\n"
    done = run_fresh(tmp_path, script, [str(out)], timeout=20)
    assert done.returncode == 0, done.stderr
    seen = eval(out.read_text(encoding="utf-8"))
    assert len(seen) == 1 and seen != state.STARTS, "module-level state must start afresh"
    assert state.STARTS[-1] == "changed in this process"  # and the fresh process changed nothing here

    (tmp_path / "broken.py").write_text("def f():\n    raise ValueError('at import')\nf()\n", encoding="utf-8")
    done = run_fresh(tmp_path, "import broken\n", [], timeout=20)
    assert done.returncode == 1 and "broken.py" in done.stderr and "ValueError: at import" in done.stderr

    assert run_fresh(tmp_path, "import sys\nsys.exit(3)\n", [], timeout=20).returncode == 3
    started = time.monotonic()
    hung = run_fresh(tmp_path, "while True:\n    pass\n", [], timeout=1)
    assert hung.returncode is None and time.monotonic() - started < 10
    sys.modules.pop("state", None)
    sys.modules.pop("broken", None)


class OneDatabase:
    """The real session, but the next database is the one given (a spare announced ahead)."""

    def __init__(self, session, name: str):
        self.session, self.name = session, name

    def create_database(self) -> str:
        return self.name

    def __getattr__(self, attribute):
        return getattr(self.session, attribute)


def worker_children(worker) -> list[int]:
    from conftest import children_of, running

    return [pid for pid in children_of(worker._process.pid) if running(pid)]


def test_prepared_children_are_connected_ahead_and_run_the_jobs_for_their_databases(tmp_path, databases):
    import psycopg

    from conftest import running

    def url(name: str) -> str:
        return databases.learner_params(name).sqlalchemy_url()

    def ran_in(folder: str, name: str) -> int:
        (tmp_path / folder).mkdir()
        job = make_job(tmp_path / folder, "import os\nprint('ran in', os.getpid())\ndef run():\n    pass\n")
        result = grade_with(job, OneDatabase(databases, name), launcher=worker)
        assert statuses(result) == {"runs": "pass", "second": "pass"}, result.checks
        return int(result.output.split("ran in ")[1].split()[0])

    worker = WarmWorker()
    try:
        first, second = databases.create_database(), databases.create_database()
        for name in (first, second):
            worker.prepare(name, url(name))
        deadline = time.monotonic() + 20
        with psycopg.connect(databases.server.admin.conninfo(), autocommit=True) as conn:
            while time.monotonic() < deadline:
                connected = conn.execute(
                    "select count(distinct datname) from pg_stat_activity where datname in (%s, %s)", (first, second)
                ).fetchone()[0]
                if connected == 2:
                    break
                time.sleep(0.05)
        assert connected == 2, "the prepared children did not connect ahead of their runs"
        prepared = set(worker_children(worker))
        assert len(prepared) == 2, prepared
        one, two = ran_in("a", second), ran_in("b", first)  # each run goes to its own prepared child
        assert {one, two} == prepared

        third = databases.create_database()  # nothing prepared for it: a fresh fork
        fresh = ran_in("c", third)
        assert fresh not in prepared
        worker.prepare(third, url(third))  # prepared for a run that never comes
        deadline = time.monotonic() + 10  # (the fresh child is being killed: it may linger a moment)
        while [p for p in worker_children(worker) if p != fresh] == [] or fresh in worker_children(worker):
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        waiting = worker_children(worker)
        assert len(waiting) == 1, f"expected one prepared child, found {waiting}"
    finally:
        worker.close()
    deadline = time.monotonic() + 5
    while running(waiting[0]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running(waiting[0]), "a prepared child outlived its worker"
