"""The judge and the witness (checker.judge): checks run apart from the learner's code, acts reply
plain bounded JSON, SQL is read from what Postgres received, and every verdict says whether it is
evidence or testimony."""

from __future__ import annotations

import os
import textwrap
import threading
import time
from pathlib import Path

import psycopg
import pytest

from checker.judge.acts import ActTimeout, BadReply, parse_reply, read_line
from checker.judge.serverlog import ServerLog, comparable
from checker.process.launch import SpawnLauncher
from checker.process.runner import grade
from checker.wire import GradingJob

pytestmark = pytest.mark.posix

JUDGED = """
import os
import sys

from checker.authoring import act, check, fail


@act
def where(ctx):
    return {"pid": os.getpid(), "value": ctx.learner.mod.VALUE, "modules": "mod" in sys.modules}


@act
def boom(ctx):
    ctx.learner.mod.boom()


@act
def refuse(ctx):
    fail("the act says no")


@act
def store(ctx, n):
    from sqlalchemy import text

    with ctx.engine.begin() as conn:
        for i in range(n):
            conn.execute(text("INSERT INTO t (id, label) VALUES (:i, :label)"), {"i": i, "label": f"row {i}"})
    return n


@act
async def later(ctx, value):
    return value * 2


@check("apart", "the check runs in another process than the learner's code")
def apart(learner):
    got = learner.run(where)
    assert got["pid"] != os.getpid(), "the check ran in the learner's process"
    assert got["modules"] and "mod" not in sys.modules, "the judge imported the learner's module"
    assert got["value"] == 42


@check("raises", "the learner's exception is a failure with its traceback")
def raises(learner):
    learner.run(boom)


@check("fails", "fail() in an act fails the check")
def fails(learner):
    learner.run(refuse)


@check("counted", "SQL counted from what Postgres received")
def counted(learner, db, sql):
    from sqlalchemy import text

    with db.begin() as conn:
        conn.execute(text("CREATE TABLE t (id int PRIMARY KEY, label text)"))
    with sql.capture() as log:
        assert learner.run(store, 3) == 3
    inserts = log.of_kind("INSERT", "t")
    assert len(inserts) == 3, [s.sql for s in log]
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 3


@check("awaited", "an async act is awaited in the learner's process")
def awaited(learner):
    assert learner.run(later, 21) == 42


@check("said", "a check that uses only acts is testimony")
def said(learner):
    assert learner.run(where)["value"] == 42


@check("yields", "a check that yields is the grader's mistake, never a pass")
def yields(learner):
    yield learner.run(where)
"""

MOD = """
VALUE = 42


def boom():
    raise ValueError("learner boom")
"""


def judged_job(root: Path, checks: str = JUDGED, source: str = MOD, **options) -> GradingJob:
    folder = root / "exercise"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mod.py").write_text(textwrap.dedent(source), encoding="utf-8")
    checks_file = root / "content" / "checks.py"
    checks_file.parent.mkdir(parents=True, exist_ok=True)
    checks_file.write_text(checks, encoding="utf-8")
    return GradingJob("test/judged", checks_file, folder, ["mod"], check_timeout_s=options.pop("timeout", 20), **options)


def by_name(result) -> dict:
    return {check.name: check for check in result.checks}


def test_checks_run_in_the_judge_and_acts_in_the_witness(tmp_path, databases, warm_launcher):
    result = by_name(grade(judged_job(tmp_path), databases, launcher=warm_launcher))
    assert result["apart"].passed, result["apart"].message
    assert result["raises"].status == "fail"
    assert "your code raised" in result["raises"].message and "learner boom" in result["raises"].message
    assert "mod.py:6" in result["raises"].message
    assert result["fails"].status == "fail" and result["fails"].message == "the act says no"
    assert result["counted"].passed, result["counted"].message
    assert result["awaited"].passed, result["awaited"].message
    assert result["counted"].evidence == "evidence"
    (view,) = result["counted"].statements  # as Postgres received them: the judge's own CREATE TABLE left out
    assert view.count == 3 and "VALUES ($1, $2)" in view.sql, view
    assert result["said"].passed and result["said"].evidence == "testimony"
    assert result["apart"].evidence == "testimony"  # acts only: the learner's process said so
    assert result["yields"].status == "error" and "yields" in result["yields"].message


def test_without_a_statement_log_sql_checks_are_testimony(tmp_path, databases, warm_launcher):
    class NoLog:  # a server that keeps no statement log (the url and docker backends)
        server = None

        def __getattr__(self, name):
            return getattr(databases, name)

    result = by_name(grade(judged_job(tmp_path, timeout=20), NoLog(), launcher=warm_launcher))
    assert result["counted"].passed, result["counted"].message  # the witness's word, said as such
    assert result["counted"].evidence == "testimony"


def test_exercises_without_acts_run_as_before_and_are_testimony(tmp_path, databases, warm_launcher):
    checks = 'from checker import check\n\n@check("runs", "runs")\ndef runs(learner):\n    assert learner.mod.VALUE == 42\n'
    result = grade(judged_job(tmp_path, checks), databases, launcher=warm_launcher)
    assert [(c.name, c.status, c.evidence) for c in result.checks] == [("runs", "pass", "testimony")]


def test_a_judged_exercise_the_portable_way_runs_its_acts_in_process_as_testimony(tmp_path, databases):
    launcher = SpawnLauncher(warm=False)
    try:
        result = by_name(grade(judged_job(tmp_path), databases, launcher=launcher))
    finally:
        launcher.close()
    assert result["counted"].passed, result["counted"].message
    assert result["raises"].status == "fail" and "learner boom" in result["raises"].message
    assert all(check.evidence == "testimony" for check in result.values())


def test_a_witness_that_dies_in_an_act_is_a_crash_of_that_check_only(tmp_path, databases, warm_launcher):
    source = MOD + "\n\ndef die():\n    import os\n    os._exit(3)\n"
    checks = JUDGED.replace("ctx.learner.mod.boom()", "ctx.learner.mod.die()")
    result = by_name(grade(judged_job(tmp_path, checks, source), databases, launcher=warm_launcher))
    assert result["raises"].status == "error" and "exited with code 3" in result["raises"].message
    assert result["counted"].passed and result["awaited"].passed  # the rest, in a new run


def test_replies_are_read_with_one_deadline_bounded_and_as_json_only():
    read_end, write_end = os.pipe()
    stop = threading.Event()

    def trickle():
        while not stop.is_set():
            os.write(write_end, b"[")
            time.sleep(0.01)

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    started = time.monotonic()
    with pytest.raises(ActTimeout):
        read_line(read_end, time.monotonic() + 0.5)
    assert time.monotonic() - started < 1.5
    stop.set()
    thread.join()
    os.close(read_end)
    os.close(write_end)

    read_end, write_end = os.pipe()

    def flood():
        try:
            for _ in range(100):
                os.write(write_end, b"x" * 65536)
        except OSError:  # the reader gave up and closed its end
            pass

    writer = threading.Thread(target=flood, daemon=True)
    writer.start()
    with pytest.raises(BadReply, match="longer than"):
        read_line(read_end, time.monotonic() + 10, limit=1 << 20)
    os.close(read_end)
    writer.join(timeout=5)
    os.close(write_end)

    for line in (
        b"\x80\x04\x95 pickle",
        b"[1, 2]",
        b'{"ok": 1, "failed": "x"}',
        b'{"raised": {"kind": "pass", "text": ""}}',
        b"[" * 100_000,
    ):
        with pytest.raises(BadReply):
            parse_reply(line)
    assert parse_reply(b'{"ok": [1, "a"], "hints": [{"sql": "SELECT 1", "extra": 5}]}') == {
        "ok": [1, "a"],
        "hints": [{"sql": "SELECT 1", "location": None, "lazy_load": None, "relationship_load": None}],
    }


def test_the_server_log_holds_what_the_learners_backends_sent_and_not_the_judges(databases):
    log_path = databases.server.statement_log
    assert log_path is not None and log_path.name == "statements.json"
    database = databases.create_database()
    try:
        params = databases.learner_params(database)
        with (
            psycopg.connect(params.conninfo(), autocommit=True) as judge,
            psycopg.connect(params.conninfo(), autocommit=True) as learner,
        ):
            assert judge.execute("SHOW log_statement").fetchone()[0] == "all"
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                learner.execute("SET log_statement = 'none'")
            log = ServerLog(log_path, database, {judge.info.backend_pid})
            # past the refused SET's line, which the collector may write late (a marker syncs)
            offset = log.synced(lambda nonce: judge.execute(f"SELECT '{nonce}'"))
            judge.execute("SELECT 'the judge itself'")
            learner.execute("SELECT %s::int + 1", (41,))
            learner.execute("SELECT 'simple'")
            statements = log.statements_since(offset, lambda nonce: judge.execute(f"SELECT '{nonce}'"))
    finally:
        databases.drop_database(database)
    texts = [s.sql for s in statements]
    assert texts == ["SELECT $1::int + 1", "SELECT 'simple'"], texts
    assert not any("the judge itself" in t or "course-mark-" in t for t in texts)
    assert statements[-2].parameters == "$1 = '41'"
    assert comparable("SELECT a FROM t WHERE id = %(id_1)s") == comparable("SELECT a  FROM t WHERE id = $1;")


AHEAD = """
import os

from checker.authoring import act, check


@act
def me(ctx):
    ticks = os.sysconf("SC_CLK_TCK")
    with open("/proc/self/stat", encoding="utf-8") as handle:
        started = int(handle.read().rsplit(")", 1)[1].split()[19]) / ticks
    targets = []
    for name in os.listdir("/proc/self/fd"):
        try:
            targets.append(os.readlink(f"/proc/self/fd/{name}"))
        except OSError:
            pass
    return {"pid": os.getpid(), "parent": os.getppid(), "started": started, "fds": targets}


@check("ahead", "the witness was forked ahead, holds two pipes and no report pipe")
def ahead(learner):
    seen = learner.run(me)
    assert seen["parent"] == os.getpid(), f"parent {seen['parent']}, judge {os.getpid()}"  # the judge's child
    assert seen["started"] < SUBMITTED - 0.3, f"started {seen['started']}, job sent {SUBMITTED}"  # before the job existed
    pipes = [t for t in seen["fds"] if t.startswith("pipe:")]
    assert len(pipes) == 2, seen["fds"]  # its requests and its replies: no report pipe, no secret pipe
"""


def test_a_prepared_child_forks_its_witness_ahead_holding_no_report_pipe(tmp_path, databases):
    """The witness of a prepared child is forked before the job arrives (off the run's critical
    path) and starts only at the judge's go: the run's report pipe and secret never reach it."""
    from checker.process.launch import default_launcher
    from course.grading.session import pair

    launcher = default_launcher()
    if not hasattr(launcher, "prepare"):
        launcher.close()
        pytest.skip("the portable launcher prepares no children")
    try:
        pair(databases, launcher)
        grade(judged_job(tmp_path / "first"), databases, launcher=launcher)  # the worker is up; spares announced
        databases.settle()
        time.sleep(1.0)  # the prepared child and its witness are forked and connected meanwhile
        with open("/proc/uptime", encoding="utf-8") as handle:
            submitted = float(handle.read().split()[0])
        checks = AHEAD + f"\nSUBMITTED = {submitted!r}\n"
        (result,) = grade(judged_job(tmp_path, checks), databases, launcher=launcher).checks
    finally:
        launcher.close()
    assert result.passed, result.message


def test_the_statement_log_is_emptied_past_its_bound_only_while_no_run_reads_it(databases):
    from checker.judge.serverlog import bound

    log_path = databases.server.statement_log
    database = databases.create_database()
    try:
        params = databases.learner_params(database)
        with (
            psycopg.connect(params.conninfo(), autocommit=True) as judge,
            psycopg.connect(params.conninfo(), autocommit=True) as learner,
        ):
            judge.execute("SELECT 'something logged'")
            reader = ServerLog(log_path, database, {judge.info.backend_pid}).attach()
            try:
                assert log_path.stat().st_size > 0
                assert not bound(log_path, limit=0)  # a run reads it: left alone
                assert log_path.stat().st_size > 0
            finally:
                reader.close()
            assert bound(log_path, limit=0)  # nobody reads it: emptied
            assert not bound(log_path, limit=1 << 30)  # under its bound: left alone
            log = ServerLog(log_path, database, {judge.info.backend_pid}).attach()
            try:
                offset = log.offset()
                assert offset < 1 << 20
                learner.execute("SELECT 'after the truncation'")
                statements = log.statements_since(offset, lambda nonce: judge.execute(f"SELECT '{nonce}'"))
            finally:
                log.close()
    finally:
        databases.drop_database(database)
    assert [s.sql for s in statements] == ["SELECT 'after the truncation'"]  # the server appends at the new end


OWN_ROLE = """
from sqlalchemy import text

from checker.authoring import act, check, fail


@act
def end_every_other_backend(ctx):
    \"\"\"What hostile learner code tries: end every other connection to its database.\"\"\"
    ended, refused = 0, 0
    with ctx.engine.connect() as conn:
        pids = conn.execute(text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )).scalars().all()
    for pid in pids:
        try:
            with ctx.engine.connect() as conn:
                ended += bool(conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar())
        except Exception:
            refused += 1
    return {"ended": ended, "refused": refused}


@act
def write_into_the_judges_table(ctx):
    with ctx.engine.begin() as conn:
        conn.execute(text("INSERT INTO made_by_the_judge (id, who) VALUES (2, 'learner')"))
        conn.execute(text("SELECT 'the learner was here'"))


@check("judged-as-itself", "the judge acts as the learner's role, logged in as its own")
def judged_as_itself(learner, db):
    with db.begin() as conn:
        conn.execute(text("CREATE TABLE made_by_the_judge (id int PRIMARY KEY, who text)"))
        users = conn.execute(text("SELECT current_user, session_user")).one()
        conn.execute(text("INSERT INTO made_by_the_judge VALUES (1, 'the judge was here')"))
    assert users[0] != users[1] and users[1] == users[0] + "_judge", users
    learner.run(write_into_the_judges_table)  # what the judge made belongs to the learner's role
    seen = learner.run(end_every_other_backend)
    with db.connect() as conn:  # the judge's pooled connection: still there
        count = conn.execute(text("SELECT count(*) FROM made_by_the_judge")).scalar()
    assert count == 2, count
    assert seen["refused"] >= 1, seen
"""


def test_the_judge_has_a_role_of_its_own_unlogged_and_out_of_the_learners_reach(tmp_path, databases, warm_launcher):
    """The judge logs in as ``<learner>_judge``, a member of the learner's role, acting as it: what it
    makes belongs to the learner, what it sends stays out of the statement log it reads, and learner
    code cannot end its connections."""
    log = databases.server.statement_log
    before = log.stat().st_size
    result = by_name(grade(judged_job(tmp_path, OWN_ROLE), databases, launcher=warm_launcher))
    assert result["judged-as-itself"].passed, result["judged-as-itself"].message
    with open(log, "rb") as handle:
        handle.seek(before)
        written = handle.read().decode("utf-8", "replace")
    deadline = time.monotonic() + 5
    while "the learner was here" not in written and time.monotonic() < deadline:  # the collector writes late
        time.sleep(0.05)
        with open(log, "rb") as handle:
            handle.seek(before)
            written = handle.read().decode("utf-8", "replace")
    assert "the learner was here" in written  # the learner's statements are logged
    assert "the judge was here" not in written and "made_by_the_judge (id int" not in written  # the judge's are not


FAMILY = """
import sys

from checker.authoring import act, check

# these checks drive alembic (the word is enough: the worker reads it from the file's text)


@act
def inherited(ctx):
    return "alembic.command" in sys.modules


@check("inherited", "the witness inherits what its judge imported for this exercise")
def inherited_check(learner):
    assert learner.run(inherited) is True, "the witness had to import the exercise's libraries itself"
"""


def test_a_witness_inherits_the_libraries_its_exercise_needs_from_its_judge(tmp_path, databases):
    """What only some exercises need (FastAPI, Alembic: imported by the worker only while idle) is
    imported by the judge before its witness is forked, not by both: a worker that never preloads
    (cold) shows it."""
    from checker.process.launch import WarmWorker

    launcher = WarmWorker(warm=False)
    try:
        (result,) = grade(judged_job(tmp_path, FAMILY), databases, launcher=launcher).checks
    finally:
        launcher.close()
    assert result.passed, result.message


KEPT = """
import os
from pathlib import Path

from checker.authoring import act, check

with open(Path(__file__).with_name("loads.txt"), "a", encoding="utf-8") as loads:
    loads.write(f"{os.getpid()} {os.getppid()}\\n")
SEEN = []


@act
def where(ctx):
    return os.getpid()


@check("kept", "what a run changes in the checks module stays in that run")
def kept(learner):
    SEEN.append(learner.run(where))
    assert len(SEEN) == 1, f"an earlier run's state reached this one: {SEEN}"
"""


def graded_then_tried_by_the_worker(job, databases, launcher) -> Path:
    """Grade ``job`` once, then wait until the idle worker has run its checks file (a line of
    ``loads.txt`` written by a process whose parent is this one: the worker). The file of loads."""
    loads = job.checks_file.with_name("loads.txt")
    (first,) = grade(job, databases, launcher=launcher).checks
    assert first.passed, first.message
    deadline = time.monotonic() + 60
    while not any(line.split()[1] == str(os.getpid()) for line in loads.read_text(encoding="utf-8").splitlines()):
        assert time.monotonic() < deadline, "the idle worker never ran the checks file"
        time.sleep(0.05)
    return loads


def test_a_warm_worker_runs_a_checks_file_once_and_each_run_starts_from_it_afresh(tmp_path, databases):
    """While idle, the worker runs a ``checks.py`` it has graded (``harness.keep_checks``): the judge
    and the witness of later runs are forks of it and do not run the file again, and what one run
    changes in the module never reaches the next."""
    from checker.process.launch import WarmWorker

    job = judged_job(tmp_path, KEPT)
    launcher = WarmWorker()
    try:
        loads = graded_then_tried_by_the_worker(job, databases, launcher)
        before = loads.read_text(encoding="utf-8")
        for _ in range(2):
            (later,) = grade(job, databases, launcher=launcher).checks
            assert later.passed, later.message
    finally:
        launcher.close()
    assert loads.read_text(encoding="utf-8") == before, "a run after the worker kept the file ran it again"


SLOW_TOP = KEPT.replace("SEEN = []", "import time\n\ntime.sleep(2.5)  # past harness.KEEP_LIMIT_S\nSEEN = []")


def test_a_checks_file_whose_top_level_runs_long_is_not_kept_and_the_worker_goes_on(tmp_path, databases):
    """The worker gives a ``checks.py``'s top level a bound (``harness.KEEP_LIMIT_S``): past it the
    file is not kept, the worker keeps serving, and each run loads the file itself."""
    from checker.process.launch import WarmWorker

    job = judged_job(tmp_path, SLOW_TOP)
    launcher = WarmWorker()
    try:
        loads = graded_then_tried_by_the_worker(job, databases, launcher)
        time.sleep(2.5)  # the worker's attempt ends at its bound
        before = len(loads.read_text(encoding="utf-8").splitlines())
        (later,) = grade(job, databases, launcher=launcher).checks
        assert later.passed, later.message
    finally:
        launcher.close()
    assert len(loads.read_text(encoding="utf-8").splitlines()) > before, "a file past the bound was kept"
