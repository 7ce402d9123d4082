"""The platform layer's portable branches, in this process: each chosen by a capability taken away
here (as Windows lacks it), and the folders it makes for macOS's long ``$TMPDIR``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from checker.process import platform


@pytest.fixture
def without_posix_processes(monkeypatch):
    """The branch taken where ``os.WNOHANG`` and ``signal.SIGKILL`` are missing (Windows); taken
    away from the layer alone, as psutil needs them here."""
    monkeypatch.setattr(platform, "posix_processes", lambda: False)


def test_liveness_and_a_hard_kill_without_posix_probing(without_posix_processes):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert platform.process_alive(child.pid)
        platform.kill_hard(child.pid)
        deadline = time.monotonic() + 10
        while platform.process_alive(child.pid) and time.monotonic() < deadline:  # a zombie counts as gone
            time.sleep(0.01)
        assert not platform.process_alive(child.pid)
    finally:
        child.kill()
        child.wait()
    assert not platform.process_alive(child.pid)
    assert not platform.process_alive(0)


def test_the_tree_walk_kills_grandchildren_too():
    code = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"
    child = subprocess.Popen([sys.executable, "-c", code])
    import psutil

    deadline = time.monotonic() + 10
    while not psutil.Process(child.pid).children() and time.monotonic() < deadline:
        time.sleep(0.02)
    grandchild = psutil.Process(child.pid).children()[0].pid
    platform.kill_tree(child.pid)
    child.wait(timeout=10)
    assert platform.wait_gone(grandchild, 10)


def test_a_user_tag_without_uids_is_a_safe_file_name(monkeypatch):
    monkeypatch.delattr(os, "getuid")
    monkeypatch.setenv("USER", "Jo Smith\\..")
    monkeypatch.setenv("LOGNAME", "Jo Smith\\..")
    monkeypatch.delenv("LNAME", raising=False)
    assert platform.user_tag() == "Jo_Smith_.."


def test_state_folder_without_uids(monkeypatch, tmp_path):
    from course import locations

    monkeypatch.delenv("COURSE_STATE_DIR", raising=False)
    monkeypatch.delattr(os, "getuid")
    monkeypatch.setenv("USERNAME", "student")
    monkeypatch.setenv("USER", "student")
    monkeypatch.setenv("LOGNAME", "student")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    assert locations.state_dir() == tmp_path / "course-student"


def test_a_socket_too_long_for_macos_goes_to_a_short_private_folder(monkeypatch, tmp_path):
    from course.postgres import embedded

    monkeypatch.setattr(embedded, "SOCKET_PATH_LIMIT", 103)
    short = tmp_path / "s"
    assert embedded.socket_folder(short) == short
    long = Path("/var/folders/xx") / ("y" * 30) / "T" / "course-501" / "servers" / "session-1234567-abcdef"
    chosen = embedded.socket_folder(long)
    assert chosen.parent == Path("/tmp") and chosen.name.startswith(f"course-{platform.user_tag()}-")
    assert embedded.socket_folder(long) == chosen, "every process finds the same folder"
    assert len(os.fsencode(chosen / ".s.PGSQL.5432")) <= 103
    # one that fits with port 5432 but not with a free port's five digits (class grading's servers):
    # decided by the longest port, so the process that stops the server finds the folder it used
    edge = Path("/" + "e" * (103 - len("/.s.PGSQL.5432") - 1))
    assert len(os.fsencode(edge / ".s.PGSQL.5432")) == 103
    assert embedded.socket_folder(edge) != edge


def test_a_short_folder_that_is_not_private_or_not_ours_is_refused(tmp_path):
    mine = platform.make_private_folder(tmp_path / "mine")
    assert mine.stat().st_mode & 0o777 == 0o700
    assert platform.make_private_folder(mine) == mine  # found again
    opened = tmp_path / "opened"
    opened.mkdir(mode=0o755)
    opened.chmod(0o755)
    with pytest.raises(PermissionError):
        platform.make_private_folder(opened)
    link = tmp_path / "link"
    link.symlink_to(mine)
    with pytest.raises(PermissionError):
        platform.make_private_folder(link)
    if platform.effective_uid() == 0:
        theirs = tmp_path / "theirs"
        theirs.mkdir(mode=0o700)
        os.chown(theirs, 65534, 65534)
        with pytest.raises(PermissionError):
            platform.make_private_folder(theirs)


def test_file_modes_only_where_they_mean_something(monkeypatch, tmp_path):
    target = tmp_path / "f"
    target.write_text("x", encoding="utf-8")
    target.chmod(0o644)
    platform.restrict(target, 0o600)
    assert target.stat().st_mode & 0o777 == 0o600
    monkeypatch.setattr(sys, "platform", "win32")
    target.chmod(0o644)
    platform.restrict(target, 0o600)  # Windows: left alone
    assert target.stat().st_mode & 0o777 == 0o644


def test_free_space_is_shutils(tmp_path):
    import shutil

    assert abs(platform.disk_free(tmp_path) - shutil.disk_usage(tmp_path).free) < 64 << 20
