"""Files saved on Windows: CRLF line endings in what the learner writes change no verdict.

An editor on Windows (or git with ``core.autocrlf``) saves ``\\r\\n``; the grader, the TODO
detection of ``course exec`` and the quiz read the same thing as from a file saved with ``\\n``.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from course.learner.unfinished import unfinished_todos
from course.quiz.terminal import parse_choice

from conftest import course

ROOT = Path(__file__).resolve().parents[2]


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
    try:
        result = course("exec", "07-migrations", "--", sys.executable, "-c", "raise SystemExit(3)", workspace=workspace)
    finally:
        course("db", "stop")  # exec started the shared server for the dev database
    assert result.returncode == 3, result.stdout + result.stderr
    said = result.stdout + result.stderr
    assert "alembic/env.py:" in said and "is still as the starter left it" in said


@pytest.mark.parametrize("answer", ["b\r", "b\r\n", " 2\r"])
def test_a_choice_typed_with_a_carriage_return_is_understood(answer, bank_question):
    assert parse_choice(answer, bank_question) == [bank_question.choices[1].id]


@pytest.fixture(scope="module")
def bank_question():
    from course.content.model import load_modules
    from course.content.quizbank import load_quiz_bank

    module = load_modules()[0]
    bank = load_quiz_bank(module.quiz, {s.id for s in module.sections})
    return next(q for q in bank.questions if q.kind == "choice" and not q.multiple and len(q.choices) >= 2)


def test_a_piped_quiz_session_with_crlf_lines_counts_the_same_answers(tmp_path):
    """Answers piped from a file saved on Windows: every right choice is still right."""
    from course.content.model import load_modules
    from course.content.quizbank import load_quiz_bank
    from course.learner.progress import Progress
    from course.quiz.session import QuizSession

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
    result = subprocess.run(
        [sys.executable, "-m", "course.cli", "quiz", "--section", "11"],
        input="\r\n".join(answers).encode("utf-8") + b"\r\n",
        capture_output=True,
        env=env,
        timeout=120,
    )
    out = result.stdout.decode("utf-8")
    assert result.returncode == 0, result.stderr.decode("utf-8")
    assert out.count("✓ Right.") == sum(1 for q in questions if q.kind == "choice") > 0
    assert "Please answer with" not in out  # no answer was misread


TEXT_CALLS = {
    "read_text",
    "write_text",
    "open",
    "fdopen",
    "TextIOWrapper",
    "NamedTemporaryFile",
    "TemporaryFile",
    "SpooledTemporaryFile",
}
PROCESS_CALLS = {"run", "Popen", "check_output"}


def _mode(call: ast.Call) -> str | None:
    """The mode of an ``open``-like call when it is a literal (None: the default text mode)."""
    for keyword in call.keywords:
        if keyword.arg == "mode" and isinstance(keyword.value, ast.Constant):
            return keyword.value.value
    name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
    if name.endswith("TemporaryFile"):
        position, default = 0, "w+b"
    elif name == "open" and isinstance(call.func, ast.Attribute) and not _is_module(call.func.value, "io"):
        position, default = 0, None  # path.open(mode)
    else:
        position, default = 1, None  # open(file, mode), os.fdopen(fd, mode)
    if len(call.args) > position and isinstance(call.args[position], ast.Constant):
        return call.args[position].value
    return default


def _is_module(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def text_io_without_encoding(path: Path, root: Path = ROOT) -> list[str]:
    """``file:line`` of each text-mode file or text subprocess call in ``path`` that leaves the
    encoding to the platform (cp1252 on many Windows machines, UTF-8 elsewhere)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if not isinstance(node, ast.Call) or any(k.arg == "encoding" for k in node.keywords):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
        if name in TEXT_CALLS:
            if isinstance(node.func, ast.Attribute) and _is_module(node.func.value, "os") and name == "open":
                continue  # os.open: a descriptor, no text
            mode = _mode(node)
            if isinstance(mode, str) and "b" in mode:
                continue
        elif name in PROCESS_CALLS:
            if not any(k.arg in ("text", "universal_newlines") for k in node.keywords):
                continue
        else:
            continue
        found.append((node.lineno, f"{path.relative_to(root).as_posix()}:{node.lineno} {name}"))
    return [where for _line, where in sorted(found)]


def test_every_text_file_and_text_subprocess_names_its_encoding():
    """No text the runner, the grader or the tests read or write depends on the platform's locale."""
    files = [p for folder in ("course", "checker", "tests", "benchmarks") for p in sorted((ROOT / folder).rglob("*.py"))]
    assert len(files) > 50
    found = [where for path in files for where in text_io_without_encoding(path)]
    assert not found, 'add encoding="utf-8":\n' + "\n".join(found)


def test_the_encoding_guard_finds_what_it_looks_for(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import io, os, subprocess\n"
        "open('a').read()\n"  # 2: found
        "open('a', 'rb').read()\n"
        "open('a', encoding='utf-8').read()\n"
        "p.read_text()\n"  # 5: found
        "p.write_text('x', encoding='utf-8')\n"
        "p.open('w')\n"  # 7: found
        "os.open('a', os.O_RDONLY)\n"
        "subprocess.run(['x'], capture_output=True, text=True)\n"  # 9: found
        "subprocess.run(['x'], capture_output=True)\n"
        "io.open('a', 'w')\n",  # 11: found
        encoding="utf-8",
    )
    found = text_io_without_encoding(sample, tmp_path)
    assert [int(where.split(":")[1].split()[0]) for where in found] == [2, 5, 7, 9, 11]
