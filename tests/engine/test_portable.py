"""The portable mode (COURSE_PORTABLE=1): every platform-specific mechanism takes its portable
way — spawned interpreters instead of forks, Postgres and the service over loopback TCP, no RAM
folder — and grading works the same (this is how it runs on macOS and Windows)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from conftest import course

# it starts `course db start`, whose service another test makes stale by touching a source file:
# these tests run one after another, in one worker
pytestmark = pytest.mark.xdist_group("shared-server")


@pytest.fixture
def portable():
    """The portable mode, with a state folder of its own (its servers must not meet this run's)."""
    state = Path(tempfile.mkdtemp(prefix="cst-", dir="/tmp"))
    env = {"COURSE_PORTABLE": "1", "COURSE_STATE_DIR": str(state)}
    yield env
    course("db", "stop", env=env)
    shutil.rmtree(state, ignore_errors=True)


def test_a_check_in_the_portable_mode(tmp_path, portable):
    result = course("check", "03", "--solution", "--json", env=portable, workspace=tmp_path / "ws")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["status"] == "pass"
    doctor = course("doctor", env=portable, workspace=tmp_path / "ws")
    assert "portable mode (COURSE_PORTABLE=1)" in doctor.stdout, doctor.stdout
    assert "on 127.0.0.1:" in doctor.stdout and "pool of spawned interpreters" in doctor.stdout, doctor.stdout
    servers = Path(portable["COURSE_STATE_DIR"]) / "servers"
    assert not list(servers.rglob(".s.PGSQL.*")), "a unix socket was made in the portable mode"


def test_the_service_over_loopback_tcp_answers_only_its_user(tmp_path, portable):
    started = course("db", "start", env=portable)
    assert started.returncode == 0 and "grading service: ready" in started.stdout, started.stdout + started.stderr
    address = Path(portable["COURSE_STATE_DIR"]) / "grader.sock"
    assert address.is_file() and not address.is_socket()
    assert stat.S_IMODE(address.stat().st_mode) == 0o600
    checked = course("check", "03", "--solution", env=portable, workspace=tmp_path / "ws")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "grading here instead" not in checked.stdout + checked.stderr
    # a connection without the key (anyone on the machine can reach the port) gets nothing
    port = json.loads(address.read_text(encoding="utf-8"))["port"]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as intruder:
        intruder.sendall(b'{"key": "guess"}\n{"ping": true, "fingerprint": "x"}\n')
        intruder.settimeout(5)
        assert intruder.recv(1024) == b"", "the service answered a connection without its key"


def test_the_engine_runs_spawned_children_in_the_portable_mode(tmp_path):
    code = (
        "from checker.process import platform\n"
        "from checker.process.launch import default_launcher\n"
        "launcher = default_launcher()\n"
        "print(type(launcher).__name__, platform.can_fork_workers(), platform.unix_sockets())\n"
        "launcher.close()\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "COURSE_PORTABLE": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        encoding="utf-8",
    )
    assert out.stdout.split() == ["SpawnLauncher", "False", "False"], out.stdout + out.stderr


# -- the pool of spawned interpreters: sized to the queue, never two runs in one interpreter ------

POOL_CHECKS = """
from checker import check

@check("runs", "the learner's module runs in a fresh interpreter")
def runs(learner):
    learner.mod.run()
"""

PID_AND_STATE = """
import builtins, os, sys
def run():
    print(f"pid={os.getpid()}", flush=True)
    leaked = [name for name in ("course_test_leak",) if hasattr(builtins, name)]
    leaked += [name for name in ("course_test_other_learner",) if name in sys.modules]
    leaked += [name for name in ("COURSE_TEST_LEAK",) if name in os.environ]
    assert not leaked, f"another run's state is here: {leaked}"
    builtins.course_test_leak = True  # what the next run must not see
    os.environ["COURSE_TEST_LEAK"] = "1"
"""


def pool_job(folder: Path, source: str = PID_AND_STATE, name: str = "mod"):
    from checker.wire import GradingJob

    learner = folder / "learner"
    learner.mkdir(parents=True)
    (learner / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    checks = folder / "checks.py"
    checks.write_text(textwrap.dedent(POOL_CHECKS), encoding="utf-8")
    return GradingJob("test/pool", checks, learner, [name], check_timeout_s=20)


def run_pids(result) -> list[int]:
    return [int(line.split("=", 1)[1]) for line in result.output.splitlines() if line.startswith("pid=")]


def test_a_pool_sized_to_the_queue_runs_each_submissions_job_in_an_interpreter_of_its_own(tmp_path, databases):
    from concurrent.futures import ThreadPoolExecutor

    from checker.process.launch import SpawnLauncher
    from checker.process.runner import grade

    count = SpawnLauncher.MAX_SPARES + 2  # more than the pool holds at once
    jobs = [pool_job(tmp_path / f"run{number}") for number in range(count)]  # each a submission of its own
    launcher = SpawnLauncher(queued=count, parallel=2)
    alive: list[int] = []
    try:
        with launcher._lock:  # started at once, in parallel: as many as go at once, no more
            started = len(launcher._spares) + len(launcher._starting)
        assert started == 2
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(lambda job: grade(job, databases, launcher=launcher), jobs))
        for result in results:
            assert result.status == "pass", [check.message for check in result.checks]
        pids = [pid for result in results for pid in run_pids(result)]
        assert len(pids) == count and len(set(pids)) == count, pids  # never two runs in one interpreter
        launcher.close()  # interpreters end once their submission has no run left: by the time it has closed
        alive = [pid for pid in pids if _running(pid)]
        assert not alive, f"interpreters that ran a job are still alive: {alive}"
        with launcher._lock:  # nothing kept beyond the queue by a one-off command
            assert launcher._queued == 0 and len(launcher._spares) + len(launcher._starting) == 0
    finally:
        launcher.close()


def _running(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_an_idle_spare_handed_a_job_still_isolates_runs(tmp_path, databases):
    from checker.process.launch import SpawnLauncher
    from checker.process.runner import grade

    launcher = SpawnLauncher()  # the app's and the service's: spares kept ready between runs
    try:
        pids = []
        for number in range(3):
            assert launcher.settle(), "the spares did not get ready"
            with launcher._lock:
                assert len(launcher._spares) == SpawnLauncher.SPARES
                assert all(spare.ready.is_set() for spare in launcher._spares)  # idle and imported
            result = grade(pool_job(tmp_path / f"run{number}"), databases, launcher=launcher)
            # each run sets state (a builtin, an environment variable) that the next must not see
            assert result.status == "pass", [check.message for check in result.checks]
            pids += run_pids(result)
        assert len(set(pids)) == 3, pids
    finally:
        launcher.close()


def test_a_service_request_starts_what_its_runs_need_at_once_and_keeps_as_many_for_the_next(tmp_path, databases):
    from checker.process.launch import SpawnLauncher
    from checker.process.runner import grade

    launcher = SpawnLauncher(parallel=3)
    try:
        assert launcher.settle()
        with launcher._lock:
            launcher._spares.pop().process.kill()  # one fewer than the runs that go at once
        with launcher.expecting(4):
            with launcher._lock:
                assert len(launcher._spares) + len(launcher._starting) == 3  # the missing one, started at once
            results = [grade(pool_job(tmp_path / f"run{number}"), databases, launcher=launcher) for number in range(3)]
        # one run of the four was never launched (cancelled): it is no longer waited for
        assert all(result.status == "pass" for result in results)
        assert launcher.settle()
        with launcher._lock:
            assert launcher._queued == 0 and len(launcher._spares) == 3  # ready for the next request
    finally:
        launcher.close()


# -- one interpreter for a submission's runs, where nothing is left that a fresh one would not have --


def workspace_job(workspace: Path, name: str, source: str):
    """A run of exercise ``test/<name>`` in ``workspace`` (laid out as a learner's: ``test/<name>``)."""
    from checker.wire import GradingJob

    learner = workspace / "test" / name
    learner.mkdir(parents=True)
    (learner / "mod.py").write_text(textwrap.dedent(source), encoding="utf-8")
    checks = workspace.parent / f"checks-{workspace.name}-{name}.py"
    checks.write_text(textwrap.dedent(POOL_CHECKS), encoding="utf-8")
    return GradingJob(f"test/{name}", checks, learner, ["mod"], check_timeout_s=20)


MAPPED = """
import os, builtins
from sqlalchemy import ForeignKey, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship
{extra}
class Base(DeclarativeBase):
    pass

class Owner(Base):
    __tablename__ = "owners"
    id: Mapped[int] = mapped_column(primary_key=True)
    items: Mapped[list["Item"]] = relationship({relationship})

class Item(Base):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id"))

def run():
    print(f"pid={{os.getpid()}}", flush=True)
    assert not hasattr(builtins, "course_test_leak"), "a name another run added to the builtins is here"
    builtins.course_test_leak = True
    engine = create_engine(os.environ["DATABASE_URL"])
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(Owner(items=[Item()]))
        session.commit()
        assert session.query(Item).count() == 1
    engine.dispose()
    {after}
"""


def mapped(extra: str = "", relationship: str = "", after: str = "") -> str:
    return MAPPED.format(extra=extra, relationship=relationship, after=after)


def test_one_learners_runs_share_an_interpreter_and_each_starts_as_a_fresh_one_would(tmp_path, databases):
    from checker.process.launch import SpawnLauncher
    from checker.process.runner import grade

    workspace = tmp_path / "alice"
    broken = mapped(relationship='"Nowhere"')  # its mappers fail to configure
    sources = [mapped(), broken, mapped(), mapped()]
    jobs = [workspace_job(workspace, f"ex{number}", source) for number, source in enumerate(sources)]
    launcher = SpawnLauncher(queued=len(jobs), parallel=1)
    try:
        results = [grade(job, databases, launcher=launcher) for job in jobs]
        assert [r.status for r in results] == ["pass", "fail", "pass", "pass"], [c.message for r in results for c in r.checks]
        pids = [pid for result in results for pid in run_pids(result)]
        # one interpreter served them all: the failed mapper configuration and the name added to
        # the builtins were put back after each run
        assert len(pids) == 4 and len(set(pids)) == 1, pids
    finally:
        launcher.close()


@pytest.mark.parametrize(
    ("leftover", "why"),
    [
        ("import threading, time\nthreading.Thread(target=time.sleep, args=(60,), daemon=True).start()", "thread"),
        ("import sqlalchemy.orm\nsqlalchemy.orm.Session.commit = lambda self: None", "changed"),
        (
            "from sqlalchemy import event\nfrom sqlalchemy.engine import Engine\n"
            "event.listen(Engine, 'before_cursor_execute', lambda *a: None)",
            "listener",
        ),
        ("import sqlalchemy\nsqlalchemy.course_test_helper = lambda: 1", "changed"),
        (
            "import sqlalchemy.util as u\nu.course_test_kept = [create_engine(os.environ['DATABASE_URL']).connect()]",
            "connection",
        ),
        ("import signal\nsignal.setitimer(signal.ITIMER_REAL, 60)", "timer"),
        ("import _thread, time\n_thread.start_new_thread(time.sleep, (60,))", "thread threading does not list"),
    ],
    ids=["thread", "monkeypatch", "listener", "added-name", "open-connection", "timer", "raw-thread"],
)
def test_a_run_that_leaves_something_behind_ends_its_interpreter_and_the_next_run_is_unaffected(
    tmp_path, databases, leftover, why
):
    from checker.process.launch import SpawnLauncher
    from checker.process.runner import grade

    workspace = tmp_path / "bob"
    first = workspace_job(workspace, "first", mapped(after=leftover.replace("\n", "\n    ")))
    second = workspace_job(workspace, "second", mapped())
    launcher = SpawnLauncher(queued=2, parallel=1)
    try:
        results = [grade(job, databases, launcher=launcher) for job in (first, second)]
        # the first may pass or be told it changed the grader's code; the second is as on a fresh interpreter
        assert results[1].status == "pass", [c.message for r in results for c in r.checks]
        pids = [pid for result in results for pid in run_pids(result)]
        assert len(set(pids)) == 2, f"the interpreter was reused after a run that left a {why}: {pids}"
    finally:
        launcher.close()


def test_two_learners_runs_never_share_an_interpreter(tmp_path, databases):
    from checker.process.launch import SpawnLauncher
    from checker.process.runner import grade

    jobs = [workspace_job(tmp_path / learner, "ex", mapped()) for learner in ("carol", "dave", "carol-copy")]
    launcher = SpawnLauncher(queued=len(jobs), parallel=1)
    try:
        results = [grade(job, databases, launcher=launcher) for job in jobs]
        assert all(r.status == "pass" for r in results), [c.message for r in results for c in r.checks]
        pids = [pid for result in results for pid in run_pids(result)]
        assert len(set(pids)) == 3, pids
    finally:
        launcher.close()


def test_a_run_never_sees_a_learner_module_imported_elsewhere(tmp_path, databases, monkeypatch):
    from checker.process.launch import SpawnLauncher
    from checker.process.runner import grade

    other = tmp_path / "other"
    other.mkdir()
    (other / "course_test_other_learner.py").write_text("SECRET = 'another learner'\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(other))
    launcher = SpawnLauncher()
    try:
        # imported here, and by a run on this pool; the next run, on a spare started before both, has it nowhere
        import course_test_other_learner  # noqa: F401

        imports_it = f"import sys\nsys.path.insert(0, {str(other)!r})\nimport course_test_other_learner\ndef run():\n    pass\n"
        first = grade(pool_job(tmp_path / "first", imports_it), databases, launcher=launcher)
        assert first.status == "pass", [check.message for check in first.checks]
        assert launcher.settle()
        second = grade(pool_job(tmp_path / "second"), databases, launcher=launcher)
        assert second.status == "pass", [check.message for check in second.checks]
    finally:
        launcher.close()
        sys.modules.pop("course_test_other_learner", None)


def test_a_run_whose_checks_use_fastapi_gets_an_interpreter_that_imported_it_ahead(tmp_path, databases, exercises):
    from checker.process.launch import SpawnLauncher
    from checker.process.runner import grade
    from checker.process.spawned import families

    by_id = exercises
    assert families(by_id["06-fastapi"].checks_file) == {"fastapi"}
    assert families(by_id["07-migrations"].checks_file) == {"alembic"}
    assert families(by_id["05-relationships"].checks_file) == frozenset()

    folder = tmp_path / "run"
    job = pool_job(folder, "import sys\ndef run():\n    assert 'fastapi.testclient' in sys.modules, 'not imported ahead'\n")
    job.checks_file.write_text(textwrap.dedent(POOL_CHECKS) + "# these checks would use fastapi\n", encoding="utf-8")
    launcher = SpawnLauncher(queued=0)
    try:
        with launcher.expecting([job]):
            with launcher._lock:
                assert launcher._starting == [frozenset({"fastapi"})] or [s.family for s in launcher._spares] == [
                    frozenset({"fastapi"})
                ]
            assert launcher.settle()
            result = grade(job, databases, launcher=launcher)
        assert result.status == "pass", [check.message for check in result.checks]
    finally:
        launcher.close()


def test_a_cold_start_on_a_disk_takes_a_copy_of_the_template_made_ahead(portable, monkeypatch):
    import time

    from course import locations
    from course.postgres import embedded

    for name, value in portable.items():  # servers on a disk, in a state folder of its own
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("COURSE_SERVERS_DIR", raising=False)
    servers = locations.servers_dir()
    assert not servers.is_relative_to(locations.RAM_DIR)
    template = embedded._template(
        embedded.bin_dir(), with_password=embedded.platform.postgres_by_pg_ctl()
    )  # as start() picks it (tcp only)
    servers.mkdir(parents=True, exist_ok=True)
    abandoned = servers / ".copying-999999999-dead00"  # left half-made by a process that exited
    abandoned.mkdir()
    embedded._copy_ahead(template)
    assert not abandoned.exists()
    (ready,) = servers.glob(f".ready-{template.name}-*")
    assert (ready / "PG_VERSION").read_text(encoding="utf-8") == (template / "PG_VERSION").read_text(encoding="utf-8")

    server = embedded.start(persistent=False)
    try:
        assert not ready.exists(), "the copy made ahead was not taken"
        import psycopg

        with psycopg.connect(server.admin.conninfo(), connect_timeout=10) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
        deadline = time.monotonic() + 60  # and the next server's copy is made in the background
        while not list(servers.glob(f".ready-{template.name}-*")) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert list(servers.glob(f".ready-{template.name}-*"))
    finally:
        server.close()


def test_a_server_started_through_pg_ctl_counts_as_stopped_once_it_has_exited(portable, monkeypatch):
    """Its postmaster is not our child (pg_ctl exits, init adopts it): once it exits it is a
    zombie until init reaps it, which is gone, not a server still stopping."""
    import time

    from checker.process import platform
    from course.postgres import embedded

    for name, value in portable.items():
        monkeypatch.setenv(name, value)
    if not platform.postgres_by_pg_ctl():
        pytest.skip("servers are started through pg_ctl only in the portable mode and on Windows")
    server = embedded.start(persistent=False)
    pid = embedded.postmaster_pid(server.data_dir)
    assert pid is not None and platform.process_alive(pid)
    started = time.monotonic()
    server.close()
    assert time.monotonic() - started < 1.0, "stopping waited for init to reap the postmaster"
    assert not platform.process_alive(pid)


def test_a_report_read_by_a_thread_keeps_its_pipe_until_the_end_so_the_next_run_cannot_lose_lines_to_it(monkeypatch):
    """Where pipes cannot be polled a thread reads the report; a run that ends before its pipe
    does (DONE read, the child not yet reaped) must not free the pipe's number under that thread:
    the next run's pipe would get it and the old thread would read (steal) its lines."""
    import time

    from checker.process import launch, platform

    monkeypatch.setattr(platform, "pipes_pollable", lambda: False)
    read_end, write_end = os.pipe()
    child = launch.Child(0, read_end, tempfile.TemporaryFile())
    os.write(write_end, b"done\n")
    assert child.read(5.0) == b"done\n"
    child.close()  # the writer still holds its end: the thread still reads the pipe
    os.fstat(read_end)  # still open: its number is not free for the next run's pipe
    next_read, next_write = os.pipe()
    assert next_read != read_end
    os.write(next_write, b"the next run's line\n")
    os.close(write_end)  # the old writer ends: the thread reads EOF and closes its descriptor
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.fstat(read_end)
        except OSError:
            break
        time.sleep(0.01)
    else:
        pytest.fail("the reader's thread never closed its pipe after EOF")
    assert os.read(next_read, 100) == b"the next run's line\n"
    os.close(next_read)
    os.close(next_write)


@pytest.mark.parametrize(
    ("writes", "report", "outcome"),
    [
        ([b"a\n", b"done\n", b"\0tok again\n"], b"a\ndone\n", "again"),
        ([b"a\ndone\n\0t", b"ok again\n"], b"a\ndone\n", "again"),  # the end line split across reads
        ([b"\0forged again\n", b"done\n", b"\0tok again\n"], b"\0forged again\ndone\n", "again"),  # not its end
        ([b"done\n\0tok again\nmore\n"], b"done\n", "gone"),  # written past the end: not reused
        ([b"done\n\0tok gone a thread it started still runs\n"], b"done\n", "gone"),
        ([b"done\n"], b"done\n", ""),  # EOF: the interpreter died
    ],
    ids=["plain", "split", "forged", "past-the-end", "gone", "eof"],
)
def test_a_reused_interpreters_report_ends_at_its_own_end_line(writes, report, outcome):
    import time

    from checker.process.launch import _FramedReader

    read_end, write_end = os.pipe()
    reader = _FramedReader(read_end, "tok")
    try:
        for chunk in writes:
            os.write(write_end, chunk)
            time.sleep(0.02)
        if not outcome:
            os.close(write_end)
        got = b""
        while (chunk := reader.read(5)) not in (b"", None):
            got += chunk
        assert chunk == b"", "the runner never saw the report end"
        assert got == report
        assert reader.ended.wait(5) and reader.outcome == outcome
    finally:
        for fd in (read_end, write_end):
            with contextlib.suppress(OSError):
                os.close(fd)
