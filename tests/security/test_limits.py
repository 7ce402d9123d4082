"""Limits are hard, and nothing a run starts or writes outlives it."""

from __future__ import annotations

import os
import time

import pytest

from checker.process import sandbox
from checker.process.runner import grade
from security.conftest import statuses, submission


def test_limits_cannot_be_lifted(submissions, class_session, class_launcher):
    source = """
import resource
def run():
    lifted = []
    for name in ("RLIMIT_DATA", "RLIMIT_FSIZE", "RLIMIT_CPU", "RLIMIT_NOFILE"):
        limit = getattr(resource, name)
        try:
            resource.setrlimit(limit, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
            lifted.append(name)
        except (ValueError, OSError):
            pass
    print("LIFTED", lifted)
    try:
        blob = bytearray(int(2.5 * (1 << 30)))
        print("ALLOCATED", len(blob))
    except MemoryError:
        print("no memory")
    try:
        with open("big.bin", "wb") as handle:
            for _ in range(100):
                handle.write(b"x" * (1 << 20))
        print("WROTE 100 MiB")
    except OSError as error:
        print("write stopped:", error)
"""
    result = grade(submission(submissions, "lift", source, timeout=30), class_session, launcher=class_launcher)
    assert "LIFTED []" in result.output, result.output
    assert "ALLOCATED" not in result.output and "WROTE 100 MiB" not in result.output, result.output


def test_a_setsid_grandchild_does_not_outlive_the_run(submissions, class_session, class_launcher, tmp_path):
    marker = tmp_path / "daemon.pid"
    os.chmod(tmp_path, 0o777)
    source = """
import os, time
def run():
    read, write = os.pipe()
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.write(write, str(os.getpid()).encode())
            time.sleep(120)
        os._exit(0)
    print("DAEMON", os.read(read, 32).decode())
"""
    result = grade(submission(submissions, "daemon", source), class_session, launcher=class_launcher)
    assert "DAEMON" in result.output, result.output
    pid = int(result.output.split("DAEMON ")[1].split()[0])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    assert not _alive(pid), "a setsid grandchild outlived its run"
    assert not marker.exists()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as handle:
            return "\nState:\tZ" not in handle.read()
    except OSError:
        return False


needs_root = pytest.mark.skipif(not sandbox.can_confine(), reason="OS-level confinement needs root on Linux (CI runs as root)")


@needs_root
def test_temp_files_and_shared_memory_do_not_stay(submissions, class_session, class_launcher):
    names = [
        f"/tmp/course-litter-{os.getpid()}",
        f"/dev/shm/course-litter-{os.getpid()}",
        f"/var/tmp/course-litter-{os.getpid()}",
    ]
    source = f"""
def run():
    for name in {names!r}:
        with open(name, "wb") as handle:
            handle.write(b"x" * 1024)
    print("LITTERED")
"""
    result = grade(submission(submissions, "litter", source), class_session, launcher=class_launcher)
    assert "LITTERED" in result.output, result.output
    assert not any(os.path.exists(name) for name in names)


@needs_root
def test_a_confined_run_sees_neither_the_others_nor_the_runner(submissions, class_session, class_launcher):
    from course import locations

    victim = submissions / "victim" / "exercise"
    victim.mkdir(parents=True, exist_ok=True)
    (victim / "mod.py").write_text("ANSWER = 42  # the victim's work\n", encoding="utf-8")
    solution = submissions / "content" / "exercises" / "test" / "peek" / "solution"
    solution.mkdir(parents=True, exist_ok=True)
    (solution / "mod.py").write_text("ANSWER = 42\n", encoding="utf-8")
    targets = [str(victim / "mod.py"), str(solution / "mod.py"), str(locations.state_dir()), str(locations.servers_dir())]
    source = f"""
import os, signal
def run():
    seen = []
    for path in {targets!r}:
        try:
            if os.path.isdir(path):
                if os.listdir(path):
                    seen.append(path)
            else:
                open(path).read()
                seen.append(path)
        except OSError:
            pass
    print("SEEN", seen)
    for pid in (os.getppid(), 1):
        try:
            os.kill(pid, signal.SIGSTOP)
            print("STOPPED", pid)
        except OSError:
            pass
    print("UID", os.getuid())
"""
    result = grade(submission(submissions, "peek", source), class_session, launcher=class_launcher)
    assert "SEEN []" in result.output, result.output
    assert "STOPPED" not in result.output, result.output
    assert f"UID {os.getuid()}" not in result.output
    assert statuses(result)["first"] == "pass"
