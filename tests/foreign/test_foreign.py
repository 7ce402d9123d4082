"""The foreign-platform tier: what a student and an instructor do, on Linux made to look like
Windows (no POSIX-only calls for the project's code) and like macOS (``sys.platform`` darwin),
both without ``/proc`` and ``/dev/shm``, with a macOS-length ``TMPDIR`` and no
``COURSE_STATE_DIR`` (``conftest.py``, ``sitecustomize.py``). Exit codes are those of Linux; no
output holds a traceback. A new POSIX-only call on a path these commands take turns this red.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each condition on one worker of its own (conftest: xdist_group)

REPOSITORY = Path(__file__).resolve().parent.parent.parent
EXERCISE = "03"
FOLDER = ("sqlalchemy-2", "03-engine-session")


def solution_of(exercises, workspace: Path) -> None:
    """The solution saved into the workspace as an editor saves: each file whole, in one step (a
    copy made beside it, then renamed over it; a copy in place sets a file's time after writing
    it, which a watcher on a loaded machine can see as a second save)."""
    target = workspace.joinpath(*FOLDER)
    staging = workspace / ".solution-staging"
    shutil.copytree(exercises["03-engine-session"].solution_dir, staging)
    for source in sorted(staging.rglob("*")):
        if source.is_file():
            destination = target / source.relative_to(staging)
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, destination)
    shutil.rmtree(staging)


def test_the_view_is_foreign(foreign):
    """The tier's premise, checked through the project's own modules: what they find missing."""
    probe = (
        "from checker.process import platform\nfrom course import locations\nfrom course.postgres import embedded\n"
        "print(platform.user_tag(), platform.posix_processes(), platform.unix_sockets(), platform.ram_folder(),"
        " platform.can_fork_workers(), platform.socket_path_limit(), locations.state_dir(),"
        " embedded.socket_folder(locations.servers_dir() / 'session-4194304-abcdef'), sep='|')\n"
    )
    done = subprocess.run(
        [*foreign.prefix, sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=foreign.env,
        check=True,
    )
    tag, posix, sockets, ram, fork, limit, state, long_one = done.stdout.strip().split("|")
    assert Path(state).parent == foreign.tmpdir, "the default state folder is in the temp folder"
    assert (ram, fork) == ("False", "False")
    if foreign.platform == "windows":
        assert (posix, sockets) == ("False", "False")
    else:
        assert (posix, sockets, limit) == ("True", "True", "103")
        # a session server's socket in the state folder would pass macOS's limit: it goes to a short folder
        assert Path(long_one).parent == Path("/tmp") and Path(long_one).name.startswith(f"course-{tag}-"), long_one


def test_init_then_a_solution_passes_and_the_starter_fails(foreign, tmp_path):
    workspace = tmp_path / "ws"
    created = foreign.course("init", workspace=workspace)
    assert created.returncode == 0, created.stderr
    assert workspace.joinpath(*FOLDER).is_dir()
    solution = foreign.course("check", EXERCISE, "--solution", workspace=workspace)
    assert solution.returncode == 0, solution.stdout + solution.stderr
    assert "PASS" in solution.stdout
    starter = foreign.course("check", EXERCISE, "--json", workspace=workspace)
    assert starter.returncode == 1, starter.stdout + starter.stderr
    assert json.loads(starter.stdout)["status"] in ("fail", "error")
    assert foreign.postgres_left() == []


def test_db_start_then_check_then_db_stop(foreign, tmp_path):
    workspace = tmp_path / "ws"
    assert foreign.course("init", workspace=workspace).returncode == 0
    started = foreign.course("db", "start", workspace=workspace)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert "grading service: ready" in started.stdout, started.stdout
        status = foreign.course("db", "status", workspace=workspace)
        assert status.returncode == 0 and "running" in status.stdout, status.stdout + status.stderr
        solution = foreign.course("check", EXERCISE, "--solution", workspace=workspace)
        assert solution.returncode == 0, solution.stdout + solution.stderr
        starter = foreign.course("check", EXERCISE, workspace=workspace)
        assert starter.returncode == 1, starter.stdout + starter.stderr
    finally:
        stopped = foreign.course("db", "stop", workspace=workspace)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    deadline = time.monotonic() + 15
    while foreign.postgres_left() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert foreign.postgres_left() == []


def test_watch_gives_one_verdict_per_save_and_stops_on_ctrl_c(foreign, tmp_path, exercises):
    import signal

    workspace = tmp_path / "ws"
    assert foreign.course("init", workspace=workspace).returncode == 0
    process = subprocess.Popen(
        foreign.command("watch", EXERCISE),
        env=foreign.environment(workspace),
        cwd=foreign.base,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while "Watching" not in "".join(lines) and time.monotonic() < deadline and process.poll() is None:
            lines.append(process.stdout.readline())
        assert "FAIL" in "".join(lines), "".join(lines)
        before = "".join(lines).count("PASS") + "".join(lines).count("FAIL")
        solution_of(exercises, workspace)  # one save
        while "PASS" not in "".join(lines) and time.monotonic() < deadline and process.poll() is None:
            lines.append(process.stdout.readline())
        assert "PASS" in "".join(lines), "".join(lines)
        time.sleep(2)  # a second verdict for the same save would come now
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C (the console sends it to us on Windows as well)
        rest, _ = process.communicate(timeout=60)
    output = "".join(lines) + rest
    after = output.count("PASS") + output.count("FAIL")
    assert after - before == 1, output
    assert process.returncode in (0, 130), output  # Ctrl-C is how watch is stopped (exit 0 on Linux)
    assert "Traceback" not in output, output
    assert foreign.postgres_left() == []


def test_the_app_shows_its_first_screen_and_quits_on_ctrl_q(foreign, tmp_path):
    import pty

    workspace = tmp_path / "ws"
    env = foreign.environment(workspace, TERM="xterm-256color", LINES="30", COLUMNS="100")
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.chdir(foreign.base)
        command = foreign.command("start")
        os.execvpe(command[0], command, env)
    screen = b""
    ansi = re.compile(rb"\x1b(\[[0-9;?<=>]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[PX^_][^\x1b]*\x1b\\|[@-Z\\-_])")

    def shown() -> bytes:
        return ansi.sub(b"", screen)

    def read_until(predicate, timeout: float) -> bool:
        nonlocal screen
        deadline = time.monotonic() + timeout
        while not predicate() and time.monotonic() < deadline:
            if select.select([fd], [], [], 0.1)[0]:
                try:
                    screen += os.read(fd, 1 << 16)
                except OSError:
                    return predicate()
        return predicate()

    status = None
    try:
        assert read_until(lambda: b"Postgres" in shown() and b"ready" in shown(), 120), shown()[-3000:]
        os.write(fd, b"\x11")  # ctrl+q
        read_until(lambda: False, 0.5)
        deadline = time.monotonic() + 60
        while status is None and time.monotonic() < deadline:
            done, raw = os.waitpid(pid, os.WNOHANG)
            if done:
                status = os.waitstatus_to_exitcode(raw)
            else:
                read_until(lambda: False, 0.2)
    finally:
        if status is None:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)
    assert status == 0, shown()[-3000:]
    assert b"Traceback" not in shown(), shown()[-3000:]
    assert b"failed" not in shown().lower().replace(b"failed checks", b""), shown()[-3000:]


def test_grade_two_workspaces_and_export_gradescope(foreign, tmp_path, exercises):
    alice, bob = tmp_path / "alice", tmp_path / "bob"
    for workspace in (alice, bob):
        assert foreign.course("init", workspace=workspace).returncode == 0
    solution_of(exercises, alice)
    graded = foreign.course(
        "grade", str(alice), str(bob), "--exercise", EXERCISE, "--json", str(tmp_path / "r.json"), workspace=tmp_path / "own"
    )
    assert graded.returncode == 1, graded.stdout + graded.stderr  # bob's is the starter
    students = {
        s["student"]: [r["status"] for r in s["results"]]
        for s in json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["students"]
    }
    assert students["alice"] == ["pass"] and students["bob"][0] in ("fail", "error"), students
    exported = foreign.course(
        "export", "gradescope", EXERCISE, "-o", str(tmp_path / "autograder.zip"), workspace=tmp_path / "own"
    )
    assert exported.returncode == 0, exported.stdout + exported.stderr
    with zipfile.ZipFile(tmp_path / "autograder.zip") as bundle:
        names = bundle.namelist()
    assert "setup.sh" in names and "run_autograder" in names, names
    assert foreign.postgres_left() == []


def test_doctor_says_which_way_each_job_goes(foreign, tmp_path):
    doctor = foreign.course("doctor", workspace=tmp_path / "ws")
    assert doctor.returncode in (0, 2), doctor.stdout + doctor.stderr
    platform_line = next(line for line in doctor.stdout.splitlines() if re.match(r"\S+ platform ", line))
    if foreign.platform == "windows":
        assert "start/stop Postgres: pg_ctl" in platform_line and "see if a process runs: psutil" in platform_line, platform_line
        assert "loopback TCP" in platform_line, platform_line
    else:
        assert platform_line.split("platform", 1)[1].strip().startswith("darwin"), platform_line
        assert "unix socket" in platform_line, platform_line
    assert "✓ postgres" in doctor.stdout, doctor.stdout


def test_the_suite_collects_without_posix(foreign):
    """Collection never fails on another OS: the test modules themselves get the foreign view."""
    env = {**foreign.env, "FOREIGN_ALSO": str(REPOSITORY / "tests")}
    done = subprocess.run(
        [*foreign.prefix, sys.executable, "-m", "pytest", "--collect-only", "-q", "-n", "0", "-p", "no:cacheprovider", "tests"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        env=env,
        cwd=REPOSITORY,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert re.search(r"\d+ tests collected", done.stdout), done.stdout[-2000:]
