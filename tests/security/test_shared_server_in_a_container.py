"""`course db start` / `course check` / `course db stop` as root without CAP_SYS_PTRACE (Docker's
default capabilities): the server runs as `nobody`, whose working folder root may then not read in
/proc, yet the running server is still recognised as ours — the service starts, a check uses it,
and `db stop` leaves no Postgres running."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="the server runs as nobody only as root"),
    pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("capsh") is None, reason="needs Linux and capsh"),
]

DROPPED = "cap_sys_admin,cap_sys_ptrace,cap_sys_resource"


def _course(state: Path, workspace: Path, *args: str) -> subprocess.CompletedProcess:
    command = " ".join(shlex.quote(part) for part in [sys.executable, "-P", "-m", "course.cli", *args])
    env = dict(os.environ, COURSE_STATE_DIR=str(state), COURSE_WORKSPACE=str(workspace), COURSE_BACKEND="embedded")
    env["COURSE_SERVERS_DIR"] = str(state / "servers")  # so that its postmaster's command line names the state folder
    return subprocess.run(
        ["capsh", f"--drop={DROPPED}", "--", "-c", command],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=240,
    )


def _postmasters(state: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                arguments = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"-D" in arguments and str(state).encode() in b" ".join(arguments):
                found.append(int(entry.name))
    return found


def test_the_shared_server_works_without_cap_sys_ptrace(tmp_path):
    state = Path(tempfile.mkdtemp(prefix="course-noptrace-"))  # nobody (the server's user) must enter it
    os.chmod(state, 0o755)
    workspace = tmp_path / "ws"
    started = _course(state, workspace, "db", "start")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        status = _course(state, workspace, "db", "status")
        assert status.returncode == 0 and "not running" not in status.stdout.lower(), status.stdout + status.stderr
        checked = _course(state, workspace, "check", "02", "--solution")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "Traceback" not in checked.stderr, checked.stderr
    finally:
        stopped = _course(state, workspace, "db", "stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert _postmasters(state) == [], "db stop left the server running"
    shutil.rmtree(state, ignore_errors=True)
