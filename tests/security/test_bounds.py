"""One submission cannot hold the run or hurt another (issue 22, point 4): every read of the
report pipe is bounded (an endless line, a flood or a trickle without a newline, ends that run at
its deadline), one submission's database is bounded (locks, size) without touching the ones graded
beside it, and on a student's machine learner code can neither freeze the processes above it nor
leave files in /dev/shm or the temp folder."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from checker.process.launch import WarmWorker
from checker.process.runner import grade
from security.conftest import statuses, submission
from security.test_class_run import KILLER, class_of, errors_of, stopped_descendants

FIND_THE_PIPES = """
import os, stat, time

def pipes():
    found = []
    for name in os.listdir("/proc/self/fd"):
        try:
            if int(name) > 2 and stat.S_ISFIFO(os.fstat(int(name)).st_mode):
                found.append(int(name))
        except OSError:
            pass
    return found
"""

FLOOD = (
    FIND_THE_PIPES
    + """
def run():
    chunk = b"x" * 65536
    targets = pipes()
    while True:
        for fd in targets:
            try:
                os.write(fd, chunk)
            except OSError:
                pass
"""
)

TRICKLE = (
    FIND_THE_PIPES
    + """
def run():
    targets = pipes()
    while True:
        for fd in targets:
            try:
                os.write(fd, b"x")
            except OSError:
                pass
        time.sleep(0.005)
"""
)


@pytest.fixture(scope="module")
def plain_worker():
    worker = WarmWorker()  # as on a student's machine: the learner's code runs as our user
    yield worker
    worker.close()


@pytest.mark.parametrize("attack", ["flood", "trickle"])
@pytest.mark.parametrize("confined", [False, True], ids=["plain", "confined"])
def test_an_endless_line_ends_the_run_at_its_deadline(attack, confined, submissions, class_session, class_launcher, plain_worker):
    launcher = class_launcher if confined else plain_worker
    source = FLOOD if attack == "flood" else TRICKLE
    limit = 4
    started = time.monotonic()
    result = grade(
        submission(submissions, f"endless-{attack}-{confined}", source, timeout=limit), class_session, launcher=launcher
    )
    took = time.monotonic() - started
    assert took < limit + 10, f"the run took {took:.1f} s with a {limit} s limit"
    assert statuses(result)["first"] != "pass", result.checks
    assert result.status != "pass"
    # the worker is still good for the next submission
    honest = grade(
        submission(submissions, f"after-{attack}-{confined}", "ANSWER = 42\ndef run():\n    pass\n"),
        class_session,
        launcher=launcher,
    )
    assert honest.status == "pass", [c.message for c in honest.checks]


def grade_command(*args) -> list[str]:
    return [sys.executable, "-m", "course.cli", "grade", *args]


LOCKS = """import os as _os
from sqlalchemy import create_engine as _create_engine, text as _text

_connection = _create_engine(_os.environ["DATABASE_URL"]).connect()
for _number in range(200_000):
    _connection.execute(_text("SELECT pg_advisory_lock(:n)"), {"n": _number})
"""

STORAGE = """import os as _os
from sqlalchemy import create_engine as _create_engine, text as _text

with _create_engine(_os.environ["DATABASE_URL"]).begin() as _connection:
    _connection.execute(_text("CREATE TABLE _hog (t text)"))
    _connection.execute(_text("ALTER TABLE _hog ALTER COLUMN t SET STORAGE PLAIN"))
    _connection.execute(_text("INSERT INTO _hog SELECT repeat(md5(g::text), 40) FROM generate_series(1, 400000) g"))
"""


def test_a_submission_past_its_database_bounds_leaves_the_others_graded(tmp_path):
    plan = {
        "hog": {"02-models": LOCKS},  # beside ann: --jobs 2
        "ann": {"02-models": "solution"},
        "big": {"02-models": STORAGE},
        "bea": {"02-models": "solution"},
    }
    students = [str(p) for p in class_of(tmp_path, plan)]
    report = tmp_path / "report.json"
    run = subprocess.run(
        grade_command(*students, "--exercise", "02", "--jobs", "2", "--json", str(report)),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=300,
    )
    data = json.loads(report.read_text(encoding="utf-8"))
    results = {s["student"]: s["results"][0] for s in data["students"]}
    assert results["ann"]["status"] == "pass" and results["bea"]["status"] == "pass", (errors_of(data), run.stderr[-2000:])
    assert results["hog"]["status"] != "pass" and results["big"]["status"] != "pass"
    hog = " ".join(c["message"] for c in results["hog"]["checks"])
    big = " ".join(c["message"] for c in results["big"]["checks"])
    assert "more than 2000 locks" in hog, hog
    assert "past 256 MiB" in big, big


STOP_AND_LITTER = """import os as _os, tempfile as _tempfile

{killer}

for _folder, _name in (("/dev/shm", "litter-{tag}"), (_tempfile.gettempdir(), "litter-{tag}")):
    with open(_os.path.join(_folder, _name), "wb") as _handle:
        for _ in range(40):
            _handle.write(b"x" * (1 << 20))
    print("LITTER", _os.path.join(_folder, _name), flush=True)
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="the attack finds its parents in /proc")
def test_course_check_survives_a_stop_of_its_ancestors_and_leaves_no_litter(tmp_path, exercises):
    exercise = exercises["02-models"]
    tag = f"{os.getpid()}-{time.monotonic_ns()}"
    workspace = tmp_path / "ws"
    environment = {**os.environ, "COURSE_WORKSPACE": str(workspace)}
    subprocess.run([sys.executable, "-m", "course.cli", "init"], env=environment, capture_output=True, check=True, timeout=120)
    hostile = STOP_AND_LITTER.format(killer=KILLER.format(test=os.getpid(), mode="stop-every-ancestor"), tag=tag)
    solution = (exercise.solution_dir / "models.py").read_text(encoding="utf-8")
    (workspace / exercise.module_id / exercise.id / "models.py").write_text(hostile + solution, encoding="utf-8")
    limit = exercise.timeout
    started = time.monotonic()
    check = subprocess.Popen(
        [sys.executable, "-m", "course.cli", "check", "02", "--json"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    try:
        out, err = check.communicate(timeout=2 * limit + 10)
    finally:
        stopped = stopped_descendants()
        for pid in stopped:  # a frozen check is not left behind
            os.kill(pid, signal.SIGKILL)
        check.kill()
        check.wait()
    assert not stopped, f"processes were left stopped: {stopped}"
    assert time.monotonic() - started < 2 * limit + 10
    data = json.loads(out)
    assert data["status"] in ("pass", "fail", "error"), err
    litter = [line.split(" ", 1)[1] for line in data["output"].splitlines() if line.startswith("LITTER ")]
    assert len(litter) == 2, data["output"]
    assert litter[0].startswith("/dev/shm/")
    left = [path for path in litter if Path(path).exists()]
    for path in left:
        Path(path).unlink()
    assert not left, f"the check left {left} behind"
    shutil.rmtree(workspace, ignore_errors=True)


def _root_without_ptrace() -> bool:
    """Root without CAP_SYS_PTRACE (a container): /proc/<pid>/cwd of the server's user is closed to
    us, so the shared server's pid cannot be vouched for and its grading service does not start."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or not Path("/proc/self/status").exists():
        return False
    effective = next(
        line for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines() if line.startswith("CapEff:")
    )
    return not int(effective.split()[1], 16) & (1 << 19)


@pytest.mark.skipif(not hasattr(__import__("socket"), "AF_UNIX"), reason="the service's unix socket")
@pytest.mark.skipif(_root_without_ptrace(), reason="as root without CAP_SYS_PTRACE the grading service does not start")
def test_the_grading_service_drops_an_endless_request_line_and_keeps_serving(tmp_path, monkeypatch):
    import socket

    state = Path(tempfile.mkdtemp(prefix="cst-svc-", dir="/tmp" if os.name == "posix" else None))
    monkeypatch.setenv("COURSE_STATE_DIR", str(state))
    environment = {**os.environ, "COURSE_WORKSPACE": str(tmp_path / "ws")}
    started = subprocess.run(
        [sys.executable, "-m", "course.cli", "db", "start"],
        env=environment,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=180,
    )
    try:
        assert "grading service: ready" in started.stdout, started.stdout + started.stderr
        from course.grading import service

        path = service.socket_path()
        assert path.is_socket()
        flood = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        flood.connect(str(path))
        flood.settimeout(30)
        sent, dropped = 0, False
        try:
            while sent < 64 << 20:  # far past the bound of one request line, without a newline
                sent += flood.send(b"x" * 65536)
        except OSError:
            dropped = True  # the service closed the connection
        flood.close()
        assert dropped, f"the service read {sent >> 20} MiB of one line"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(30)
            client.connect(str(path))
            client.sendall(json.dumps({"fingerprint": service.fingerprint(), "ping": True}).encode() + b"\n")
            answer = json.loads(client.makefile("rb").readline())
        assert "pong" in answer or "error" in answer, answer  # it still answers (a stale fingerprint is an answer too)
    finally:
        subprocess.run([sys.executable, "-m", "course.cli", "db", "stop"], env=environment, capture_output=True, timeout=180)
        shutil.rmtree(state, ignore_errors=True)
