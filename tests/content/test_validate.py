"""`course validate` finds planted problems, each with its file (and line where one exists)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course.content.validate import merged
from course.grading.validation import validate
from course.locations import builtin_content_root

BUILTIN = builtin_content_root()


@pytest.fixture
def root(tmp_path) -> Path:
    """A copy of the shipped module with only exercise 03 (fast to grade)."""
    shutil.copytree(BUILTIN / "lessons", tmp_path / "lessons")
    shutil.copytree(BUILTIN / "quizzes", tmp_path / "quizzes")
    for folder in ("03-engine-session", "_shared"):  # the exercise, and the module's helpers its checks import
        shutil.copytree(
            BUILTIN / "exercises" / "sqlalchemy-2" / folder,
            tmp_path / "exercises" / "sqlalchemy-2" / folder,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def messages(problems) -> str:
    return "\n".join(str(p) for p in problems)


def test_the_copy_is_clean_statically(root):
    assert validate(root) == []


def test_static_problems_are_reported_with_file_and_line(root):
    exercise = root / "exercises" / "sqlalchemy-2" / "03-engine-session"
    meta = exercise / "exercise.toml"
    text = meta.read_text(encoding="utf-8")
    meta.write_text(re.sub(r"hints = \[.*?\n\]\n", 'hints = ["only one"]\n', text, flags=re.DOTALL), encoding="utf-8")
    (exercise / "solution" / "db.py").unlink()
    shutil.rmtree(exercise / "variants" / "getenv")
    quiz = root / "quizzes" / "sqlalchemy-2.toml"
    edit(quiz, 'section = "12-pooling"', 'section = "13-hybrid"')
    found = messages(validate(root))
    assert "exercise.toml: needs at least 2 hints" in found
    assert "solution/db.py: missing" in found
    assert "variants/getenv: missing: variants.getenv is declared" in found


def test_unparsable_metadata_and_unknown_keys_name_the_line(root):
    meta = root / "exercises" / "sqlalchemy-2" / "03-engine-session" / "exercise.toml"
    meta.write_text("colour = 'red'\n" + meta.read_text(encoding="utf-8"), encoding="utf-8")
    (problem,) = merged(validate(root))  # the loader's report; the schema's of the same file is left out
    assert problem.path == meta and problem.line == 1
    assert "unknown key 'colour'" in problem.message


def test_quiz_answers_must_be_among_the_choices(root):
    quiz = root / "quizzes" / "sqlalchemy-2.toml"
    text = quiz.read_text(encoding="utf-8")
    first_correct = re.search(r'correct = \["([^"]+)"', text).group(1)
    quiz.write_text(text.replace(f'correct = ["{first_correct}"', 'correct = ["Not a choice"', 1), encoding="utf-8")
    (problem,) = validate(root)
    assert problem.path == quiz and problem.line and "not among the choices" in problem.message


def test_grading_problems(root, grading):
    exercise = root / "exercises" / "sqlalchemy-2" / "03-engine-session"
    # the starter passes: copy the solution over it
    shutil.copy(exercise / "solution" / "db.py", exercise / "starter" / "db.py")
    # a mutant declared to be caught by the wrong check
    edit(exercise / "exercise.toml", 'expect = "session-closed"', 'expect = "engine-from-env"')
    # a mutant that is not a mistake at all
    shutil.copy(exercise / "solution" / "db.py", exercise / "mutants" / "returns-user-object" / "db.py")
    # a lesson block that fails
    lesson = root / "lessons" / "sqlalchemy-2" / "01-what-is-an-orm.md"
    lesson.write_text(lesson.read_text(encoding="utf-8") + "\n```python\nraise ValueError('planted')\n```\n", encoding="utf-8")
    found = messages(validate(root, grading))
    assert "starter: the starter already passes every check" in found
    assert "mutants/session-never-closed: rejected by session-closed, not by engine-from-env" in found
    assert "mutants/returns-user-object: this mutant is not rejected" in found
    assert "01-what-is-an-orm.md:" in found and "planted" in found


def test_cli_validate_exit_codes(root):
    clean = subprocess.run(
        [sys.executable, "-m", "course.cli", "validate", "--static", str(root)], capture_output=True, text=True, encoding="utf-8"
    )
    assert clean.returncode == 0, clean.stdout + clean.stderr
    (root / "lessons" / "sqlalchemy-2" / "05-relationships.md").unlink()
    broken = subprocess.run(
        [sys.executable, "-m", "course.cli", "validate", "--static", str(root)], capture_output=True, text=True, encoding="utf-8"
    )
    assert broken.returncode == 1
    assert "05-relationships.md: section 05-relationships has no lesson file" in broken.stdout


def test_the_shipped_course_validates_statically():
    """The graded half (solutions, starters, mutants, variants, lesson code) is test_exercises.py
    and test_lessons.py; together they are `course validate` of the shipped module."""
    assert validate(BUILTIN) == []


def test_mutation_testing_reports_survivors_and_scores(root, grading):
    """`validate --mutate` on the small exercise: clean as shipped; a survivor appears, with file and
    line, when an equivalent is no longer listed and when a check is weakened."""
    from course.grading.validation import validate_mutants

    exercise = root / "exercises" / "sqlalchemy-2" / "03-engine-session"

    def mutation_messages(problems):
        return messages(p for p in problems if "mutant" in p.message or "equivalent" in p.message)

    problems, (score,) = validate_mutants(root, grading, "03")
    assert mutation_messages(problems) == ""
    assert score.exercise == "03-engine-session" and score.survivors == [] and score.score == 1.0
    assert score.generated >= 5 and score.equivalent >= 1

    meta = exercise / "exercise.toml"
    edit(meta, '"db.py: drop-statement session.refresh(user)" = ', '"db.py: no such mutant" = ')
    # the check that the name is stored is what kills a dropped name=name
    edit(exercise / "checks.py", 'if rows[first][1] != "A" or rows[second][1] != "B":', "if False:")
    problems, (score,) = validate_mutants(root, grading, "03")
    found = mutation_messages(problems)
    assert "solution/db.py:23: generated mutant survives every check: drop-statement session.refresh(user)" in found
    assert "drop-keyword name=name in User(email=email, name=name)" in found
    assert 'list it in exercise.toml under [equivalent]: "db.py: drop-statement session.refresh(user)"' in found
    assert 'equivalent."db.py: no such mutant" names no generated mutant' in found
    assert len(score.survivors) == 2 and score.score < 1.0


def test_cli_validate_mutate_prints_scores_and_fails_on_a_survivor(root):
    exercise = root / "exercises" / "sqlalchemy-2" / "03-engine-session"
    edit(exercise / "checks.py", 'if rows[first][1] != "A" or rows[second][1] != "B":', "if False:")
    run = subprocess.run(
        [sys.executable, "-m", "course.cli", "validate", str(root), "--mutate", "03"],
        capture_output=True,
        text=True,
        timeout=300,
        encoding="utf-8",
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert re.search(r"mutation score 03-engine-session: \d+% \(\d+ of \d+ killed, 1 equivalent, 1 surviving\)", run.stdout), (
        run.stdout
    )
    assert "survives every check: drop-keyword name=name" in run.stdout
