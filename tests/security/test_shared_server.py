"""The shared server of ``course db start`` is its owner's alone: no other OS user reaches it,
and nobody gets in without the password (it never trusts a local connection)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest

from checker.process import sandbox
from course.postgres import embedded

OTHER_USER = 54_321


@pytest.fixture()
def shared(monkeypatch):
    # a state folder of its own, where the server's unprivileged user can reach it (as root)
    state = Path(tempfile.mkdtemp(prefix="cst-", dir="/tmp"))
    monkeypatch.setenv("COURSE_STATE_DIR", str(state))
    monkeypatch.setenv("COURSE_SERVERS_DIR", str(state / "servers"))
    server = embedded.start(persistent=True)
    try:
        yield server
    finally:
        embedded.stop(server.server_dir)
        shutil.rmtree(state, ignore_errors=True)


def test_no_password_no_entry(shared):
    assert shared.admin.password, "the shared server's superuser has no password"
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(
            host=shared.admin.host, port=shared.admin.port, user="postgres", dbname="postgres", password="", connect_timeout=3
        ).close()
    with psycopg.connect(shared.admin.conninfo(), connect_timeout=3) as conn:  # its owner's commands get in
        assert conn.execute("SELECT current_user").fetchone()[0] == "postgres"
    assert (os.stat(embedded.shared_password_path()).st_mode & 0o077) == 0, "the password file is readable by others"
    assert (os.stat(shared.server_dir).st_mode & 0o077) == 0, "the socket folder lets others through"


@pytest.mark.skipif(not sandbox.running_as_root(), reason="needs root to act as another OS user (CI runs as root)")
def test_another_os_user_cannot_reach_it(shared):
    probe = f"""
import os, psycopg
os.setgroups([]); os.setgid({OTHER_USER}); os.setuid({OTHER_USER})
for password in (None, "postgres", ""):
    try:
        psycopg.connect(host={shared.admin.host!r}, port={shared.admin.port}, user="postgres", dbname="postgres",
                        password=password, connect_timeout=3).close()
        print("CONNECTED")
    except Exception as error:
        print("refused:", str(error).strip().splitlines()[-1][:100])
try:
    print("PASSWORD", open({str(embedded.shared_password_path())!r}).read())
except OSError as error:
    print("no password file:", error.strerror)
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, encoding="utf-8")
    assert "refused" in out.stdout, out.stdout + out.stderr
    assert "CONNECTED" not in out.stdout and "PASSWORD" not in out.stdout, out.stdout
