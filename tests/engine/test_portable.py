"""The portable mode (COURSE_PORTABLE=1): every platform-specific mechanism takes its portable
way — spawned interpreters instead of forks, Postgres and the service over loopback TCP, no RAM
folder — and grading works the same (this is how it runs on macOS and Windows)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
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
