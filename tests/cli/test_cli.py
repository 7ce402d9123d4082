"""The real CLI in a subprocess: exit codes, JSON shape, workspace flows, nothing left running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SHARED_SERVERS, course, postgres_processes, servers_root


def test_help_is_instant_and_imports_no_heavy_library():
    code = "import sys; from course.cli import main; assert not {'sqlalchemy', 'textual', 'rich', 'psycopg'} & set(sys.modules), sorted(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)
    result = course("--help")
    assert result.returncode == 0
    assert "check" in result.stdout and "start" in result.stdout


def test_check_solution_json_passes_and_leaves_nothing_running(tmp_path, state_dir):
    result = course("check", "05", "--solution", "--json", workspace=tmp_path / "ws")
    assert result.returncode == 0, result.stderr + result.stdout
    data = json.loads(result.stdout)
    assert data["exercise"] == "sqlalchemy-2/05-relationships"
    assert data["status"] == "pass"
    assert isinstance(data["duration_s"], float)
    for check in data["checks"]:
        assert set(check) >= {"name", "status", "message", "sql"}
        assert check["status"] == "pass"
    assert postgres_processes(state_dir) == []
    left = [p for p in servers_root().glob("session-*") if str(p) not in SHARED_SERVERS]
    assert not left, "the command's server directory was not removed"


def test_starter_fails_with_a_teaching_message_and_records_progress(tmp_path):
    workspace = tmp_path / "ws"
    assert course("init", workspace=workspace).returncode == 0
    result = course("check", "relationships", workspace=workspace)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "✗" in result.stdout
    shown = " ".join(result.stdout.split())
    assert "User has no relationship `documents`" in shown and "back_populates" in shown
    assert 'relationship(back_populates="owner")' not in shown  # the first failure points to the hint instead
    assert "course hint 05-relationships" in shown
    listing = json.loads(course("list", "--json", workspace=workspace).stdout)
    statuses = {e["id"]: e["status"] for s in listing[0]["sections"] for e in s["exercises"]}
    assert statuses["sqlalchemy-2/05-relationships"] == "fail"
    assert statuses["sqlalchemy-2/02-models"] == "not started"


def test_an_n_plus_one_is_shown_numbered_folded_and_with_the_fix(tmp_path, exercises):
    workspace = tmp_path / "ws"
    course("init", workspace=workspace)
    exercise = exercises["05-relationships"]
    folder = workspace / "sqlalchemy-2" / "05-relationships"
    (folder / "models.py").write_text((exercise.solution_dir / "models.py").read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "queries.py").write_text(
        (exercise.path / "mutants" / "lazy-loop" / "queries.py").read_text(encoding="utf-8"), encoding="utf-8"
    )
    result = course("check", "05", workspace=workspace, env={"COLUMNS": "200"})
    assert result.returncode == 1
    out = result.stdout
    assert "lazy load of User.documents" in out
    assert "× 30" in out and "▶" in out
    assert "selectinload(User.documents)" in out


def test_fixing_the_workspace_file_makes_the_check_pass(tmp_path, exercises):
    workspace = tmp_path / "ws"
    course("init", workspace=workspace)
    exercise = exercises["03-engine-session"]
    target = workspace / "sqlalchemy-2" / "03-engine-session" / "db.py"
    target.write_text((exercise.solution_dir / "db.py").read_text(encoding="utf-8"), encoding="utf-8")
    result = course("check", "03", workspace=workspace)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS" in result.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("check", "nonexistent"), "no exercise matches"),
        (("check", "07"), "fix:"),
        (("check", "01"), "quiz-only"),
        (("check",), "give one EXERCISE or --all"),
        (("--backend", "docker", "check", "05", "--solution"), "needs Docker"),
        (("--database-url", "mysql://x", "check", "05", "--solution"), "must start with postgresql://"),
    ],
)
def test_usage_and_environment_errors_exit_2_with_one_line(tmp_path, args, fragment):
    result = course(*args, workspace=tmp_path / "ws")
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("course: error")]
    assert len(lines) == 1 and fragment in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_hint_solution_and_reset(tmp_path, exercises):
    workspace = tmp_path / "ws"
    course("init", workspace=workspace)
    first = course("hint", "02", workspace=workspace).stdout
    second = course("hint", "02", workspace=workspace).stdout
    assert "Hint 1/" in first and "Hint 2/" not in first
    assert "Hint 2/" in second
    assert "once more" in course("solution", "02", workspace=workspace).stdout
    shown = course("solution", "02", workspace=workspace).stdout
    assert "class Base(DeclarativeBase)" in shown
    target = workspace / "sqlalchemy-2" / "02-models" / "models.py"
    target.write_text("# my work\n", encoding="utf-8")
    refused = course("reset", "02", workspace=workspace, input="n\n")
    assert target.read_text(encoding="utf-8") == "# my work\n" and "Nothing changed" in refused.stdout
    done = course("reset", "02", workspace=workspace, input="y\n")
    assert done.returncode == 0
    assert target.read_text(encoding="utf-8") == (exercises["02-models"].starter_dir / "models.py").read_text(encoding="utf-8")
    backups = list((workspace / ".course" / "backups").iterdir())
    assert (backups[0] / "models.py").read_text(encoding="utf-8") == "# my work\n"


def test_init_never_overwrites_student_work(tmp_path):
    workspace = tmp_path / "ws"
    course("init", workspace=workspace)
    target = workspace / "sqlalchemy-2" / "04-crud" / "crud.py"
    target.write_text("# mine\n", encoding="utf-8")
    course("init", workspace=workspace)
    assert target.read_text(encoding="utf-8") == "# mine\n"


@pytest.mark.xdist_group("shared-server")  # with the other tests of `course db start` (see test_service)
def test_db_start_is_reused_and_stop_leaves_nothing(tmp_path, state_dir):
    try:
        started = course("db", "start")
        assert started.returncode == 0 and "running" in started.stdout
        assert "running" in course("db", "status").stdout
        url = course("db", "url").stdout.strip()
        assert url.startswith("postgresql+psycopg://")
        result = course("check", "03", "--solution", workspace=tmp_path / "ws")
        assert result.returncode == 0
        assert "running" in course("db", "status").stdout  # the shared server outlives the check
    finally:
        stopped = course("db", "stop")
    assert "stopped" in stopped.stdout
    assert postgres_processes(state_dir) == []


def test_exec_runs_in_the_exercise_folder_with_a_dev_database(tmp_path, state_dir):
    workspace = tmp_path / "ws"
    course("init", workspace=workspace)
    code = "import os, psycopg; u = os.environ['DATABASE_URL'].replace('+psycopg', ''); psycopg.connect(u).close(); print(os.getcwd()); print(u)"
    try:
        result = course("exec", "04", "--", sys.executable, "-c", code, workspace=workspace)
        assert result.returncode == 0, result.stderr
        cwd, url = result.stdout.strip().splitlines()[-2:]
        assert cwd.endswith("sqlalchemy-2/04-crud")
        assert "course_dev_04_crud" in url
        assert course("exec", "04", "--", sys.executable, "-c", "raise SystemExit(3)", workspace=workspace).returncode == 3
    finally:
        course("db", "stop")
    assert postgres_processes(state_dir) == []


def test_doctor_explains_the_backend(tmp_path):
    result = course("doctor", workspace=tmp_path / "ws")
    assert "embedded" in result.stdout
    assert "no Docker daemon" in result.stdout or "Docker" in result.stdout
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.posix
def test_a_killed_runner_leaves_no_server_behind(state_dir):
    import signal
    import time

    code = (
        "from course.postgres.session import open_session; import os, sys; s = open_session('embedded'); "
        "print(s.server.server_dir, flush=True); sys.stdin.read()"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8"
    )
    server_dir = Path(process.stdout.readline().strip())
    assert server_dir.exists() and postgres_processes(server_dir)
    process.send_signal(signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 15
    while (server_dir.exists() or postgres_processes(server_dir)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not server_dir.exists()
    assert postgres_processes(server_dir) == []


def test_check_all_on_a_fresh_workspace_passes_none_and_solutions_pass_all(tmp_path, modules):
    workspace = tmp_path / "ws"
    fresh = course("check", "--all", "--json", workspace=workspace, timeout=600)
    assert fresh.returncode == 1, fresh.stderr
    results = json.loads(fresh.stdout)
    assert len(results) == sum(len(m.exercises) for m in modules) == 13
    assert all(r["status"] in ("fail", "error") for r in results), [
        (r["exercise"], r["status"]) for r in results if r["status"] == "pass"
    ]
    solved = course("check", "--all", "--solution", "--json", workspace=workspace, timeout=600)
    assert solved.returncode == 0, [(r["exercise"], r["status"]) for r in json.loads(solved.stdout) if r["status"] != "pass"]


@pytest.mark.posix
def test_watch_regrades_on_save_and_stops_on_ctrl_c(tmp_path, exercises, state_dir):
    import signal
    import time

    workspace = tmp_path / "ws"
    course("init", workspace=workspace)
    env = {**os.environ, "COURSE_WORKSPACE": str(workspace), "COLUMNS": "120", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "course.cli", "watch", "03"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
    )
    try:
        lines = []
        deadline = time.monotonic() + 60
        while "Watching" not in "".join(lines) and time.monotonic() < deadline:
            lines.append(process.stdout.readline())
        assert "FAIL" in "".join(lines)
        target = workspace / "sqlalchemy-2" / "03-engine-session" / "db.py"
        target.write_text((exercises["03-engine-session"].solution_dir / "db.py").read_text(encoding="utf-8"), encoding="utf-8")
        while "PASS" not in "".join(lines) and time.monotonic() < deadline:
            lines.append(process.stdout.readline())
        assert "PASS" in "".join(lines)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    assert postgres_processes(state_dir) == []


def test_a_progress_store_from_a_newer_release_is_one_line_not_a_traceback(tmp_path):
    import sqlite3

    workspace = tmp_path / "ws"
    course("init", workspace=workspace)
    with sqlite3.connect(workspace / ".course" / "progress.sqlite3") as raw:
        raw.execute("PRAGMA user_version = 99")
    result = course("list", workspace=workspace)
    assert result.returncode == 2
    assert result.stderr.startswith("course: error:") and "newer version" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_password_on_the_command_line_is_warned_about_and_not_repeated(tmp_path):
    """`--database-url` with a password is readable by every process (ps); the CLI says so, and how to avoid it."""
    for args in (
        ["--database-url", "postgresql://teacher:s3cret-pw@127.0.0.1:9/db", "list"],
        ["list", "--database-url", "postgresql://teacher:s3cret-pw@127.0.0.1:9/db"],
    ):
        result = course(*args, workspace=tmp_path / "ws")
        assert result.returncode == 0, result.stderr
        assert "COURSE_DATABASE_URL" in result.stderr and "warning" in result.stderr
        assert "s3cret-pw" not in result.stderr + result.stdout
    quiet = course(
        "list", workspace=tmp_path / "ws", env={"COURSE_DATABASE_URL": "postgresql://teacher:s3cret-pw@127.0.0.1:9/db"}
    )
    assert "warning" not in quiet.stderr
