"""`course db stop` signals only the grading service itself (issue 12, item 6): its pid file
records the pid, the start time and the executable, and a process that merely has the pid, or
`course.grading.server` in its command line, is left alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from course.grading import service

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="these tests read /proc to see what runs")


# it starts `course db start`, whose service another test makes stale by touching a source file:
# these tests run one after another, in one worker
pytestmark = pytest.mark.xdist_group("shared-server")


@pytest.fixture
def lookalike():
    """An unrelated live process whose command line contains `course.grading.server`."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "course.grading.server"])
    deadline = time.monotonic() + 10
    while b"course.grading.server" not in Path(f"/proc/{process.pid}/cmdline").read_bytes() and time.monotonic() < deadline:
        time.sleep(0.01)  # until exec has replaced the forked copy of us
    yield process
    process.kill()
    process.wait()


def course(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "course.cli", *args], capture_output=True, text=True, timeout=180, encoding="utf-8"
    )


def stat_fields(pid: int) -> list[str]:
    """Fields 3... of /proc/<pid>/stat (state, ppid, ...), [] once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()
    except OSError:
        return []


def start_time(pid: int) -> str:
    return stat_fields(pid)[19]


def running(pid: int) -> bool:
    """Alive and not a zombie. (Helpers are local: run beside tests/security, whose conftest
    shadows ours as `conftest`, `from conftest import` and `test_cli` would not load.)"""
    return stat_fields(pid)[:1] not in ([], ["Z"], ["X"])


def test_db_stop_never_signals_a_process_that_only_looks_like_the_service(state_dir, lookalike):
    pid = lookalike.pid
    assert service.running_pid() is None and not service.socket_path().exists()
    exe = os.readlink(f"/proc/{pid}/exe")
    forged = {
        "a bare pid (how the pid file used to be written)": str(pid),
        "the pid of a service that died, reused since": json.dumps(
            {"pid": pid, "start": str(int(start_time(pid)) - 1), "exe": exe}
        ),
        "the right start time, another executable": json.dumps({"pid": pid, "start": start_time(pid), "exe": "/usr/bin/env"}),
    }
    for what, text in forged.items():
        service.pid_path().write_text(text, encoding="utf-8")
        assert service.running_pid() is None, what
        stopped = course("db", "stop")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        time.sleep(0.2)
        assert running(pid) and lookalike.poll() is None, f"{what}: `course db stop` signalled an unrelated process"
        assert not service.pid_path().exists(), f"{what}: the stale pid file was kept"

    # the same process with its true identity is what the pid file would say of a service
    service.pid_path().write_text(json.dumps({"pid": pid, "start": start_time(pid), "exe": exe}), encoding="utf-8")
    try:
        assert service.running_pid() == pid
    finally:
        service.pid_path().unlink()


def test_the_service_is_known_by_its_start_time_and_executable_or_else_by_its_own_word(state_dir, lookalike, monkeypatch):
    started = course("db", "start")
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        pid = service.ping()
        record = json.loads(service.pid_path().read_text(encoding="utf-8"))
        assert record == {"pid": pid, "start": start_time(pid), "exe": os.readlink(f"/proc/{pid}/exe")}
        assert oct(service.pid_path().stat().st_mode & 0o777) == "0o600"
        assert service.running_pid() == pid

        # where there is no /proc (macOS, Windows) the service itself must confirm its pid
        monkeypatch.setattr(service, "_PROC", state_dir / "no-proc-here")
        assert service.running_pid() == pid
        service.pid_path().write_text(json.dumps({"pid": lookalike.pid}), encoding="utf-8")
        assert service.running_pid() is None  # the service answers with another pid
        service.pid_path().write_text(json.dumps(record), encoding="utf-8")
        monkeypatch.undo()
    finally:
        stopped = course("db", "stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    deadline = time.monotonic() + 10
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running(pid), "`course db stop` did not stop the service"
    assert lookalike.poll() is None
    assert service.running_pid() is None and not service.pid_path().exists()
