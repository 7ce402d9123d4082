"""Files saved on Windows: CRLF line endings in what the learner writes change no verdict.

An editor on Windows (or git with ``core.autocrlf``) saves ``\\r\\n``; the grader, the TODO
detection of ``course exec`` and the quiz read the same thing as from a file saved with ``\\n``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from course.quizcli import parse_choice
from course.unfinished import unfinished_todos

from test_cli import course


def crlf(text: bytes) -> bytes:
    return text.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def copy_with_crlf(source: Path, target: Path) -> list[Path]:
    """Every file of ``source`` written under ``target`` with CRLF line endings; the files written."""
    written = []
    for path in sorted(source.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(crlf(path.read_bytes()))
            written.append(destination)
    return written


def test_a_solution_saved_with_crlf_passes_course_check(tmp_path, exercises):
    """07-migrations has every kind of file a learner saves: Python, alembic.ini, a Mako template, revisions."""
    workspace = tmp_path / "ws"
    assert course("init", workspace=workspace).returncode == 0
    exercise = exercises["07-migrations"]
    folder = workspace / "sqlalchemy-2" / "07-migrations"
    written = copy_with_crlf(exercise.solution_dir, folder)
    kinds = {path.suffix for path in written}
    assert {".py", ".ini", ".mako"} <= kinds and any(path.parent.name == "versions" for path in written)
    assert all(b"\n" not in path.read_bytes().replace(b"\r\n", b"") for path in written)  # no bare LF left
    assert all(b"\r\n" in path.read_bytes() for path in written if path.suffix in (".py", ".ini", ".mako"))
    result = course("check", "07-migrations", "--json", workspace=workspace)
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"status": "pass"' in result.stdout


def test_the_unfinished_todo_is_found_in_a_file_saved_with_crlf(tmp_path, exercises):
    exercise = exercises["07-migrations"]
    with_lf, with_crlf = tmp_path / "lf", tmp_path / "crlf"
    for path in exercise.starter_dir.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            (with_lf / path.relative_to(exercise.starter_dir)).parent.mkdir(parents=True, exist_ok=True)
            (with_lf / path.relative_to(exercise.starter_dir)).write_bytes(path.read_bytes().replace(b"\r\n", b"\n"))
    copy_with_crlf(exercise.starter_dir, with_crlf)
    expected = unfinished_todos(exercise, with_lf)
    assert expected, "the 07 starter has a TODO in alembic/env.py"
    found = unfinished_todos(exercise, with_crlf)
    assert [(todo.file, todo.line, todo.text) for todo in found] == [(todo.file, todo.line, todo.text) for todo in expected]
    assert all("\r" not in todo.text and "/" in todo.file for todo in found if todo.file.startswith("alembic"))
    assert "alembic/env.py" in [todo.file for todo in found]
    # done in the learner's CRLF file: no longer reported
    env = with_crlf / "alembic" / "env.py"
    env.write_bytes(crlf((exercise.solution_dir / "alembic" / "env.py").read_bytes()))
    assert "alembic/env.py" not in [todo.file for todo in unfinished_todos(exercise, with_crlf)]


def test_course_exec_names_the_todo_of_a_crlf_starter(tmp_path):
    workspace = tmp_path / "ws"
    assert course("init", workspace=workspace).returncode == 0
    folder = workspace / "sqlalchemy-2" / "07-migrations"
    for path in folder.rglob("*"):
        if path.is_file():
            path.write_bytes(crlf(path.read_bytes()))
    result = course("exec", "07-migrations", "--", sys.executable, "-c", "raise SystemExit(3)", workspace=workspace)
    assert result.returncode == 3, result.stdout + result.stderr
    said = result.stdout + result.stderr
    assert "alembic/env.py:" in said and "is still as the starter left it" in said


@pytest.mark.parametrize("answer", ["b\r", "b\r\n", " 2\r"])
def test_a_choice_typed_with_a_carriage_return_is_understood(answer, bank_question):
    assert parse_choice(answer, bank_question) == [bank_question.choices[1].id]


@pytest.fixture(scope="module")
def bank_question():
    from course.content import load_modules
    from course.quizbank import load_quiz_bank

    module = load_modules()[0]
    bank = load_quiz_bank(module.quiz, {s.id for s in module.sections})
    return next(q for q in bank.questions if q.kind == "choice" and not q.multiple and len(q.choices) >= 2)


def test_a_piped_quiz_session_with_crlf_lines_counts_the_same_answers(tmp_path):
    """Answers piped from a file saved on Windows: every right choice is still right."""
    from course.content import load_modules
    from course.progress import Progress
    from course.quiz import QuizSession
    from course.quizbank import load_quiz_bank

    module = load_modules()[0]
    bank = load_quiz_bank(module.quiz, {s.id for s in module.sections})
    questions = bank.for_section("11-loading")
    same_order = QuizSession(bank, Progress(tmp_path / "order.sqlite3"), "sqlalchemy-2", seed=11)
    answers = []
    for question in questions:
        if question.kind == "choice":
            shown = [c.id for c in same_order.present(question)]
            answers.append(",".join("abcdefghij"[shown.index(i)] for i in question.correct))
        elif question.kind == "recall":
            answers += ["my answer", "3"]
        else:
            answers.append("SELECT 1")
    env = {**os.environ, "COURSE_WORKSPACE": str(tmp_path / "ws"), "COLUMNS": "120", "COURSE_QUIZ_SEED": "11"}
    result = subprocess.run([sys.executable, "-m", "course.cli", "quiz", "--section", "11"],
                            input="\r\n".join(answers).encode("utf-8") + b"\r\n", capture_output=True, env=env, timeout=120)
    out = result.stdout.decode("utf-8")
    assert result.returncode == 0, result.stderr.decode("utf-8")
    assert out.count("✓ Right.") == sum(1 for q in questions if q.kind == "choice") > 0
    assert "Please answer with" not in out  # no answer was misread
