"""The grading service of `course db start`: `course check` uses it, and does without it when it
is stale, dead or interrupted — always with the same results, never leaving anything behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import children_of, course, cwd_of, postgres_processes, running

# it starts `course db start`, whose service another test makes stale by touching a source file:
# these tests run one after another, in one worker
pytestmark = pytest.mark.xdist_group("shared-server")


CLIENT = """
import sys
from course.cli import run
sys.argv = ["course", *sys.argv[1:]]
try:
    run()
except SystemExit as exit:
    code = exit.code
print("HEAVY", sorted({"sqlalchemy", "psycopg", "textual"} & set(sys.modules)), file=sys.stderr)
sys.exit(code)
"""


def client(*args: str, workspace: Path) -> subprocess.CompletedProcess:
    """`course ARGS` in a subprocess that reports which heavy libraries it imported."""
    env = {**os.environ, "COURSE_WORKSPACE": str(workspace)}
    return subprocess.run(
        [sys.executable, "-c", CLIENT, *args], capture_output=True, text=True, env=env, timeout=180, encoding="utf-8"
    )


def service_pid() -> int | None:
    from course.grading import service

    return service.running_pid()


@pytest.fixture
def shared(state_dir):
    """`course db start` for one test; `course db stop` after it, which must leave nothing."""
    started = course("db", "start")
    assert started.returncode == 0, started.stdout + started.stderr
    assert "grading service: ready" in started.stdout
    yield service_pid()
    stopped = course("db", "stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert service_pid() is None
    from course.grading import service

    assert not service.socket_path().exists()
    deadline = time.monotonic() + 5  # backends of a killed server exit on their own, soon
    while postgres_processes(state_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert postgres_processes(state_dir) == []


def test_check_goes_through_the_service_and_imports_nothing_heavy(tmp_path, shared):
    assert "grading service: ready" in course("db", "status").stdout
    result = client("check", "05", "--solution", "--json", workspace=tmp_path / "ws")
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"status": "pass"' in result.stdout
    assert "HEAVY []" in result.stderr, result.stderr  # graded by the service, not in this process

    starter = client("check", "05", workspace=tmp_path / "ws")
    assert starter.returncode == 1, starter.stdout + starter.stderr
    assert "✗" in starter.stdout and "HEAVY []" in starter.stderr
    listing = course("list", workspace=tmp_path / "ws")
    assert "05-relationships" in listing.stdout and "fail" in listing.stdout  # progress recorded


def test_several_jobs_come_back_in_order(shared):
    from course.content.model import find_exercise, load_modules
    from course.grading import service
    from course.grading.session import job_for, materialised

    modules = load_modules()
    exercises = [find_exercise(modules, query) for query in ("04", "03", "02")]
    with materialised(exercises[0]) as a, materialised(exercises[1]) as b, materialised(exercises[2], "starter") as c:
        jobs = [job_for(exercise, folder) for exercise, folder in zip(exercises, (a, b, c), strict=True)]
        results = list(service.grade_remotely(jobs))
    assert [r.exercise for r in results] == [e.full_id for e in exercises]
    assert [r.status for r in results] == ["pass", "pass", "fail"]


def test_a_job_of_another_shape_is_refused_whole_not_half_read(tmp_path, shared):
    """A request with a job the service cannot read (the shape the runner used to send a worker)
    grades nothing and says why; the service goes on serving."""
    import contextlib

    from course.grading import service

    old = {
        "learner_dir": str(tmp_path),
        "checks_file": str(tmp_path / "checks.py"),
        "modules": ["mod"],
        "database": "course_1",
        "only": [],
    }
    with contextlib.closing(service._connect()) as client:
        service._request(client, {"fingerprint": service.fingerprint(), "jobs": [old]})
        with pytest.raises(service.ServiceUnavailable, match=r"cannot read this request: .*missing field\(s\) 'exercise'"):
            list(service._answers(client))
    assert service.ping() == shared


@pytest.mark.posix
def test_a_stale_or_dead_service_is_not_used_and_check_still_works(tmp_path, shared):
    from course import locations

    source = locations.PACKAGE_DIR.parent / "checker" / "wire.py"
    before = source.stat()
    os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))  # "the code changed"
    try:
        stale = course("check", "03", "--solution", workspace=tmp_path / "ws")
    finally:
        os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert stale.returncode == 0, stale.stdout + stale.stderr
    assert "older code" in stale.stdout and "grading here instead" in stale.stdout

    os.kill(shared, signal.SIGKILL)
    time.sleep(0.2)
    dead = course("check", "03", "--solution", workspace=tmp_path / "ws")
    assert dead.returncode == 0, dead.stdout + dead.stderr
    assert "grading here instead" in dead.stdout
    assert "PASS" in dead.stdout


@pytest.mark.posix
def test_ctrl_c_cancels_the_run_in_the_service_which_keeps_serving(tmp_path, shared):
    workspace = tmp_path / "ws"
    course("init", workspace=workspace)
    (workspace / "sqlalchemy-2" / "03-engine-session" / "db.py").write_text("import time\ntime.sleep(60)\n", encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "course.cli", "check", "03"],
        env={**os.environ, "COURSE_WORKSPACE": str(workspace)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    folder = (workspace / "sqlalchemy-2" / "03-engine-session").resolve()
    learner = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not learner:  # until the learner's code runs in the service
        # a fork of the service's worker, or (the portable way) a process the service spawned; in an
        # exercise judged apart (checker.judge), the witness the judge forked
        near = children_of(shared)
        below = [g for w in near for g in children_of(w)]
        learner = [pid for pid in [*near, *below, *(g for w in below for g in children_of(w))] if cwd_of(pid) == folder]
        time.sleep(0.1)
    assert learner, "the run never started in the service"
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130, out + err
    deadline = time.monotonic() + 10
    while running(learner[0]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not running(learner[0]), "the learner's process outlived the cancelled run"
    again = client("check", "03", "--solution", workspace=workspace)
    assert again.returncode == 0 and "HEAVY []" in again.stderr, again.stdout + again.stderr


def _mapped_by_anyone(segment: Path) -> bool:
    """Whether a live process has ``segment`` mapped (a running server's, not a leak)."""
    name = str(segment)
    for maps in Path("/proc").glob("[0-9]*/maps"):
        try:
            if name in maps.read_text(encoding="utf-8", errors="replace"):
                return True
        except OSError:
            continue
    return False


@pytest.mark.posix
def test_the_service_stops_when_its_server_is_killed_and_no_shared_memory_leaks(tmp_path, shared):
    from course.postgres import embedded

    segments = set(Path("/dev/shm").glob("PostgreSQL.*")) if Path("/dev/shm").is_dir() else set()
    server = embedded.running_persistent()
    assert server is not None
    os.kill(server.pid(), signal.SIGKILL)
    deadline = time.monotonic() + 10
    while service_pid() is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert service_pid() is None, "the service outlived its server"
    after = set(Path("/dev/shm").glob("PostgreSQL.*")) if Path("/dev/shm").is_dir() else set()
    # a segment another test's server (on disk: posix segments) made meanwhile is mapped by it
    leaked = {segment for segment in after - segments if not _mapped_by_anyone(segment)}
    assert not leaked, f"shared memory left behind: {leaked}"
    result = course("check", "03", "--solution", workspace=tmp_path / "ws")  # on a server of its own
    assert result.returncode == 0, result.stdout + result.stderr
