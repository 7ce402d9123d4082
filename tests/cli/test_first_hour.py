"""A student's first hour, through the real CLI in a subprocess: options anywhere, section numbers
as ids, reset without input or twice in a second, one error shown once, opening the file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import course


def test_global_options_work_after_the_subcommand_too(tmp_path):
    workspace = tmp_path / "after"
    listed = course("list", "--json", "--workspace", str(workspace))
    assert listed.returncode == 0, listed.stderr
    init = course("init", "--workspace", str(workspace))
    assert init.returncode == 0, init.stderr
    assert (workspace / ".course" / "progress.sqlite3").exists()
    hint = course("hint", "02", "--workspace", str(workspace))
    assert hint.returncode == 0 and "Hint 1/" in hint.stdout, hint.stderr
    assert not (Path.cwd() / "course-work").exists() or workspace.exists()

    docker = course("check", "05", "--solution", "--backend", "docker", workspace=tmp_path / "ws")
    assert docker.returncode == 2 and "needs Docker" in docker.stderr, docker.stderr
    url = course("check", "05", "--solution", "--database-url", "mysql://x", workspace=tmp_path / "ws")
    assert url.returncode == 2 and "must start with postgresql://" in url.stderr, url.stderr
    content = course("list", "--json", "--content", str(tmp_path / "nowhere"), workspace=tmp_path / "ws")
    assert content.returncode == 0 and "nowhere" in content.stderr, content.stderr


def test_an_option_after_the_subcommand_wins_over_the_same_one_before(tmp_path):
    before, after = tmp_path / "before", tmp_path / "after"
    result = course("--workspace", str(before), "init", "--workspace", str(after))
    assert result.returncode == 0, result.stderr
    assert after.exists() and not before.exists()


def test_help_lists_the_global_options_under_each_command():
    result = course("check", "--help")
    assert result.returncode == 0
    for option in ("--workspace", "--backend", "--database-url", "--content"):
        assert option in result.stdout


@pytest.mark.parametrize(("query", "exercise"), [("5", "05-relationships"), ("2", "02-models"), ("13", "13-hybrid")])
def test_the_section_number_names_its_exercise(tmp_path, query, exercise):
    result = course("solution", query, workspace=tmp_path / "ws")
    assert result.returncode == 0, result.stderr
    assert f"course hint {exercise}`" in result.stdout, result.stdout


def test_a_section_number_with_two_exercises_names_both(tmp_path):
    result = course("check", "7", workspace=tmp_path / "ws")
    assert result.returncode == 2
    assert "07-migrations, 07-rename-migration" in result.stderr and "fix:" in result.stderr, result.stderr


def test_section_one_is_the_quiz_and_a_number_out_of_range_is_one_line(tmp_path):
    quiz = course("check", "1", workspace=tmp_path / "ws")
    assert quiz.returncode == 2 and "quiz-only" in quiz.stderr, quiz.stderr
    nowhere = course("check", "99", workspace=tmp_path / "ws")
    assert nowhere.returncode == 2 and "no exercise matches '99'" in nowhere.stderr
    assert "Traceback" not in quiz.stderr + nowhere.stderr


def test_reset_with_stdin_closed_changes_nothing_and_exits_1(tmp_path):
    workspace = tmp_path / "ws"
    course("init", workspace=workspace)
    target = workspace / "sqlalchemy-2" / "02-models" / "models.py"
    target.write_text("# my work\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "course.cli", "reset", "02"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env={**os.environ, "COURSE_WORKSPACE": str(workspace)},
        encoding="utf-8",
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Nothing changed" in result.stdout
    assert "interrupted" not in result.stderr
    assert target.read_text(encoding="utf-8") == "# my work\n"
    answered_no = course("reset", "02", workspace=workspace, input="n\n")
    assert answered_no.returncode == 1 and "Nothing changed" in answered_no.stdout


def test_two_resets_in_one_second_keep_two_backups(tmp_path):
    """A backup of this second exists already (an earlier reset): the new one gets its own name."""
    workspace = tmp_path / "ws"
    course("init", workspace=workspace)
    target = workspace / "sqlalchemy-2" / "02-models" / "models.py"
    backups = workspace / ".course" / "backups"
    now = time.time()
    taken = [backups / f"02-models-{time.strftime('%Y%m%d-%H%M%S', time.localtime(now + offset))}" for offset in range(-1, 60)]
    for earlier in taken:  # every second the reset below can fall in, whatever the machine's load
        earlier.mkdir(parents=True)
        (earlier / "models.py").write_text("# earlier\n", encoding="utf-8")
    target.write_text("# mine\n", encoding="utf-8")
    result = course("reset", "02", "-y", workspace=workspace)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    made = sorted(set(backups.iterdir()) - set(taken))
    assert len(made) == 1 and made[0].name.endswith("-2"), made
    assert (made[0] / "models.py").read_text(encoding="utf-8") == "# mine\n"
    assert all((earlier / "models.py").read_text(encoding="utf-8") == "# earlier\n" for earlier in taken)
    assert str(made[0]) in result.stdout


def test_concurrent_resets_never_fail(tmp_path):
    workspace = tmp_path / "ws"
    course("init", workspace=workspace)
    env = {**os.environ, "COURSE_WORKSPACE": str(workspace)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "course.cli", "reset", "04", "-y"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            encoding="utf-8",
        )
        for _ in range(6)
    ]
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        assert "Traceback" not in err
    assert (workspace / "sqlalchemy-2" / "04-crud" / "crud.py").exists()


@pytest.mark.posix
def test_an_interrupted_reset_never_leaves_an_unmarked_partial_backup(tmp_path):
    """Ctrl-C at any moment of a reset: every backup is whole or marked partial, and the next
    reset removes the partial ones of processes that are gone."""
    workspace = tmp_path / "ws"
    course("init", workspace=workspace)
    folder = workspace / "sqlalchemy-2" / "02-models"
    env = {**os.environ, "COURSE_WORKSPACE": str(workspace)}
    lock = workspace / ".course" / "reset.lock"  # made when a reset begins: the interpreter is up by then
    for delay in (0.0, 0.01, 0.03, 0.1, 0.25):
        if folder.exists():
            for index in range(300):
                (folder / f"notes-{index}.txt").write_text("mine\n", encoding="utf-8")
        lock.unlink(missing_ok=True)
        process = subprocess.Popen(
            [sys.executable, "-m", "course.cli", "reset", "02", "-y"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        deadline = time.monotonic() + 10
        while not lock.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=60)
        if lock.exists():  # a Ctrl-C while Python itself starts is Python's own traceback, not the reset's
            assert "Traceback" not in err, err
        for backup in (workspace / ".course" / "backups").glob("*"):
            if ".partial-" not in backup.name:
                assert len(list(backup.glob("notes-*.txt"))) in (0, 300), f"{backup} is partial but not marked"
    abandoned = workspace / ".course" / "backups" / "02-models-20000101-000000.partial-999999999"
    abandoned.mkdir()
    assert course("reset", "02", "-y", workspace=workspace).returncode == 0
    assert not abandoned.exists()
    assert not list((workspace / ".course" / "backups").glob("*.partial-*"))


def test_a_syntax_error_is_shown_once_as_the_one_thing_to_fix(tmp_path):
    workspace = tmp_path / "ws"
    course("init", workspace=workspace)
    (workspace / "sqlalchemy-2" / "02-models" / "models.py").write_text("class Base(:\n", encoding="utf-8")
    shown = course("check", "02", workspace=workspace, env={"COLUMNS": "120"})
    assert shown.returncode == 1, shown.stderr
    assert shown.stdout.count("SyntaxError") == 1, shown.stdout
    assert "could not run" in shown.stdout and "one thing to fix" in shown.stdout
    data = json.loads(course("check", "02", "--json", workspace=workspace).stdout)
    assert data["status"] == "error" and len(data["checks"]) == 8  # the JSON keeps one entry per check
    assert all("SyntaxError" in check["message"] for check in data["checks"])


def recording_editor(tmp_path: Path, code: int = 0) -> tuple[str, Path]:
    """An "editor" that writes the arguments and working folder it got to a file."""
    log = tmp_path / "editor.log"
    script = tmp_path / "editor.py"
    script.write_text(
        f"import os, sys\nopen({str(log)!r}, 'w').write(os.getcwd() + '\\n' + '\\n'.join(sys.argv[1:]))\nsys.exit({code})\n",
        encoding="utf-8",
    )
    return f"{sys.executable} {script} --wait", log


def test_course_edit_opens_the_main_file_in_visual_then_editor(tmp_path):
    workspace = tmp_path / "ws"
    editor, log = recording_editor(tmp_path)
    result = course("edit", "5", workspace=workspace, env={"VISUAL": editor, "EDITOR": "not-this-one"})
    assert result.returncode == 0, result.stderr
    cwd, *args = log.read_text(encoding="utf-8").splitlines()
    assert args == ["--wait", str(workspace / "sqlalchemy-2" / "05-relationships" / "models.py")]
    assert cwd == str(workspace / "sqlalchemy-2" / "05-relationships")
    log.unlink()
    result = course("edit", "02", workspace=workspace, env={"VISUAL": "", "EDITOR": editor})
    assert result.returncode == 0 and log.read_text(encoding="utf-8").endswith("02-models/models.py")


def test_course_edit_reports_an_editor_that_cannot_run_or_fails(tmp_path):
    workspace = tmp_path / "ws"
    missing = course("edit", "02", workspace=workspace, env={"VISUAL": "no-such-editor-anywhere"})
    assert missing.returncode == 2 and "no-such-editor-anywhere" in missing.stderr and "fix:" in missing.stderr
    assert "Traceback" not in missing.stderr
    editor, _log = recording_editor(tmp_path, code=3)
    assert course("edit", "02", workspace=workspace, env={"VISUAL": editor}).returncode == 3
    unset = course("edit", "02", workspace=workspace, env={"VISUAL": "", "EDITOR": ""})
    assert unset.returncode == 2 and "export EDITOR" in unset.stderr, unset.stderr


@pytest.mark.posix
def test_o_in_the_app_opens_the_main_file_in_the_editor_and_comes_back(tmp_path):
    """The real app in a pseudo-terminal: `o` hands the terminal to $VISUAL, then the app resumes."""
    import fcntl
    import pty
    import re
    import select
    import struct
    import termios

    workspace = tmp_path / "ws"
    course("init", workspace=workspace)
    editor, log = recording_editor(tmp_path)
    env = {
        **os.environ,
        "TERM": "xterm-256color",
        "COURSE_WORKSPACE": str(workspace),
        "VISUAL": editor,
        "COURSE_BACKEND": "url",
        "COURSE_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
    }
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.execve(sys.executable, [sys.executable, "-m", "course.cli", "start"], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
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

    try:
        assert read_until(lambda: b"Postgres" in shown(), 60), shown()[-2000:]
        screen = b""
        os.write(fd, b"n")  # section 2, the first with an exercise, then o
        assert read_until(lambda: "2 · 2.0 declarative".encode() in shown(), 30), "n did not open section 2"
        os.write(fd, b"o")
        assert read_until(log.exists, 30), "the editor was not started"
        cwd, *args = log.read_text(encoding="utf-8").splitlines()
        assert args[-1].endswith("sqlalchemy-2/02-models/models.py")
        screen = b""
        assert read_until(lambda: b"passed" in shown(), 30), "the app did not come back"
        os.write(fd, b"\x11")  # ctrl+q
        read_until(lambda: os.waitpid(pid, os.WNOHANG) != (0, 0), 15)
    finally:
        try:
            if os.waitpid(pid, os.WNOHANG) == (0, 0):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        os.close(fd)


def test_check_all_ends_with_a_summary_and_shows_details_only_for_failures(tmp_path, modules):
    import shutil

    workspace = tmp_path / "ws"
    course("init", workspace=workspace)
    exercises = [e for m in modules for e in m.exercises]
    for exercise in exercises:
        shutil.copytree(exercise.solution_dir, workspace / exercise.module_id / exercise.id, dirs_exist_ok=True)
    (workspace / "sqlalchemy-2" / "02-models" / "models.py").write_text("class Base(:\n", encoding="utf-8")
    result = course("check", "--all", workspace=workspace, env={"COLUMNS": "100"}, timeout=600)  # piped, 100 columns
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "✓ engine is built from DATABASE_URL" not in out, "details of a passing exercise are shown"
    assert out.count("SyntaxError") == 2  # the failing exercise's details, and its summary row
    summary = out[out.index("Summary") :]
    assert all(e.full_id in summary for e in exercises)
    assert "┃┃" not in summary, "the status column has no width"
    rows = {
        line.split()[0]: line
        for line in summary.splitlines()
        if line.split() and line.split()[0] in {e.full_id for e in exercises}
    }
    assert len(rows) == len(exercises), summary
    for exercise_id, row in rows.items():  # each exercise's status, in words, on its own row
        expected = "! error" if exercise_id.endswith("02-models") else "✓ passed"
        assert expected in row, (exercise_id, row)
    assert "could not run: models.py:1: SyntaxError" in summary
    assert f"{len(exercises) - 1}/{len(exercises)} passed" in summary
    assert len(summary.splitlines()) <= 24, "the summary fits on one screen"
    progress = [line for line in result.stderr.splitlines() if line.startswith("[")]  # piped: plain lines
    assert progress[-1] == f"[{len(exercises)}/{len(exercises)}] 13-hybrid pass", result.stderr

    verbose = course("check", "--all", "-v", workspace=workspace, env={"COLUMNS": "120"}, timeout=600)
    assert "✓ engine is built from DATABASE_URL" in verbose.stdout


def test_exec_names_the_unfinished_todo_when_the_tool_fails(tmp_path, exercises, state_dir):
    from conftest import postgres_processes

    workspace = tmp_path / "ws"
    folder = workspace / "sqlalchemy-2" / "07-migrations"
    readme_command = ["alembic", "revision", "--autogenerate", "-m", "create tables"]
    try:
        # README's own example, on the starter; the global option after EXERCISE works here too
        failed = course("exec", "07-migrations", "--workspace", str(workspace), "--", *readme_command)
        assert failed.returncode != 0
        assert "Can't load plugin" in failed.stderr, "the tool's own output is kept"
        last = failed.stderr.strip().splitlines()[-1]
        assert last.startswith("course: alembic failed") and "alembic/env.py:12" in last and "TODO (course) 1" in last, last
        assert "fix:" in last
        env = exercises["07-migrations"].solution_dir / "alembic" / "env.py"
        (folder / "alembic" / "env.py").write_text(env.read_text(encoding="utf-8"), encoding="utf-8")
        done = course("exec", "07-migrations", "--", *readme_command, workspace=workspace)
        assert done.returncode == 0, done.stderr
        assert "starter left it" not in done.stderr
        assert list((folder / "alembic" / "versions").glob("*create_tables*.py"))
    finally:
        course("db", "stop")
    assert postgres_processes(state_dir) == []


def test_grade_shows_progress_as_plain_lines_when_piped(tmp_path):
    students = [tmp_path / "ada", tmp_path / "bob"]
    for student in students:
        course("init", "--workspace", str(student))
    result = course(
        "grade", *map(str, students), "--exercise", "03", "--exercise", "04", "--json", str(tmp_path / "r.json"), timeout=600
    )
    assert result.returncode == 1, result.stderr  # starters fail
    steps = [line for line in result.stderr.splitlines() if line.startswith("[")]
    assert len(steps) == 4 and steps[-1].startswith("[4/4] "), result.stderr
    assert {line.split()[1] for line in steps} == {"ada", "bob"}


# -- issue 26: the first hour's remaining frictions -------------------------------------------------


def test_a_bad_database_url_fails_first_in_one_line_with_the_drivers_reason(tmp_path):
    workspace = tmp_path / "ws"
    refused = course("check", "02", "--database-url", "postgresql://nobody@127.0.0.1:1/none", workspace=workspace)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert not workspace.exists(), "a workspace was made before the URL was tried"
    line = refused.stderr.strip()
    assert len(line.splitlines()) == 1 and line.startswith("course: error: "), line
    assert "Connection refused" in line and "\t" not in line, line
    assert "course db status" not in line and "fix:" in line and "--database-url" in line.split("fix:")[1], line
    assert "Traceback" not in refused.stderr
    wrong = course("check", "02", "--database-url", "mysql://x@localhost/db", workspace=workspace)
    assert wrong.returncode == 2 and "must start with postgresql://" in wrong.stderr, wrong.stderr
    assert not workspace.exists()


def test_hint_after_the_last_says_every_hint_is_shown_and_what_comes_next(tmp_path, exercises):
    workspace = tmp_path / "ws"
    total = len(exercises["02-models"].hints)
    for _ in range(total - 1):
        assert "again for the next one" in course("hint", "02", workspace=workspace).stdout
    last = course("hint", "02", workspace=workspace)
    assert f"Hint {total}/{total}" in last.stdout and "That was the last hint" in last.stdout, last.stdout
    again = course("hint", "02", workspace=workspace)
    assert again.returncode == 0
    tail = again.stdout.strip().splitlines()[-1]
    assert f"All {total} hints of 02-models are shown" in tail and "course solution 02-models" in tail, again.stdout


def test_a_closed_pipe_does_not_change_the_exit_code(tmp_path):
    """`course check 02 | head -1`: the reader is gone before the result is printed."""
    env = {**os.environ, "COURSE_WORKSPACE": str(tmp_path / "ws")}
    for args, code in ((["check", "02", "--solution"], 0), (["check", "02"], 1)):
        process = subprocess.Popen(
            [sys.executable, "-m", "course.cli", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
            encoding="utf-8",
        )
        process.stdout.close()  # as `head` exits: every write of the result finds the pipe closed
        err = process.stderr.read()
        assert process.wait(timeout=180) == code, (args, err)
        assert "BrokenPipe" not in err and "Traceback" not in err and "Exception ignored" not in err, err


def test_every_commands_short_help_reads_whole_in_course_help():
    from course.cli import main
    from course.cli.base import first_sentence

    listing = course("--help", env={"COLUMNS": "80"}).stdout
    commands = listing[listing.index("Commands:") :].splitlines()[1:]
    rows: dict[str, str] = {}
    name = ""
    for line in commands:
        if line.startswith("  ") and not line.startswith("    "):
            name, _, text = line.strip().partition(" ")
            rows[name] = text.strip()
        elif line.strip():
            rows[name] += " " + line.strip()
    assert rows["check"] == "Grade EXERCISE (e.g. 05, relationships, sqlalchemy-2/05-relationships) or --all.", rows["check"]
    for name, command in main.commands.items():
        if command.hidden:
            continue
        assert not rows[name].endswith("..."), (name, rows[name])
        assert rows[name].count("(") == rows[name].count(")"), (name, rows[name])
        assert rows[name] == (command.short_help or first_sentence(command.help or "")), name


def test_a_joinedload_without_unique_gets_a_teaching_message(tmp_path, exercises):
    workspace = tmp_path / "ws"
    course("init", workspace=workspace)
    exercise = exercises["05-relationships"]
    folder = workspace / "sqlalchemy-2" / "05-relationships"
    for name in ("models.py", "queries.py"):
        (folder / name).write_text((exercise.solution_dir / name).read_text(encoding="utf-8"), encoding="utf-8")
    queries = folder / "queries.py"
    text = queries.read_text(encoding="utf-8").replace("selectinload", "joinedload")
    assert "joinedload(User.documents)" in text and ".unique()" not in text
    queries.write_text(text, encoding="utf-8")
    shown = course("check", "05", workspace=workspace, env={"COLUMNS": "200"})
    assert shown.returncode == 1, shown.stdout + shown.stderr
    out = " ".join(shown.stdout.split())
    assert "The unique() method must be invoked" in out, "the raw error stays (it is what a search finds)"
    assert "fix: a joined eager load of a collection (joinedload)" in out and "needs .unique() on the result" in out, out
    assert "selectinload()" in out


def test_a_ctrl_c_that_lands_where_python_cannot_raise_it_still_interrupts_without_a_traceback():
    """A Ctrl-C inside a callback (an import lock's weakref callback, a finaliser) is "ignored" by
    Python with a printed traceback; the command's hook sends it again, to be raised where the
    command ends with its one line."""
    code = textwrap.dedent(
        """
        import time

        import course.cli


        class Finaliser:
            def __del__(self):
                raise KeyboardInterrupt


        try:
            Finaliser()
            time.sleep(2)
            print("not interrupted")
        except KeyboardInterrupt:
            print("interrupted")
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, encoding="utf-8", timeout=60)
    assert result.stdout == "interrupted\n", result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr, result.stderr
