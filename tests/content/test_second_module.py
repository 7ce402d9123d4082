"""The second module kept for the tests (tests/modules/pg-indexes: indexes, EXPLAIN, an async
exercise), validated and graded through the real CLI; `course validate [PATH] [--mutate [EXERCISE]]`
parsed as written; the scaffold's own exercise mutation-tested with a kill matrix."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from course.content.validate import failing
from course.grading.validation import validate

from conftest import course

ROOT = Path(__file__).resolve().parents[1] / "modules" / "pg-indexes"
EXERCISES = ROOT / "exercises" / "pg-indexes"

pytestmark = pytest.mark.xdist_group("pg-indexes")


@pytest.fixture
def copy(tmp_path) -> Path:
    target = tmp_path / "pg-indexes"
    shutil.copytree(ROOT, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def test_the_module_validates_statically():
    assert failing(validate(ROOT)) == []


def test_validate_mutate_grades_everything_and_prints_the_kill_matrix():
    run = course("validate", str(ROOT), "--mutate", "-v", timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "kill matrix" in run.stdout
    # the hand-written mutants, each by the check declared for it
    assert "mutants/upper-instead-of-lower: killed by find-account-uses-the-index" in run.stdout
    assert "mutants/orders-index-account-only: killed by orders-newest-first-by-index" in run.stdout
    # generated ones, with the second tier's operators, and the equivalents with their reason
    assert re.search(r"drop-function func\.lower\(Account\.email\) -> Account\.email: killed by", run.stdout), run.stdout
    assert "equivalent (The conditions of where(a, b) are joined by AND" in run.stdout
    assert re.search(r"mutation score 02-async-lookup: 100% \(\d+ of \d+ killed, 2 equivalent\)", run.stdout), run.stdout
    assert "no problems found" in run.stdout


def test_the_solution_passes_and_a_mutant_fails_with_the_async_call_site(tmp_path):
    workspace = tmp_path / "ws"
    solution = course("--content", str(ROOT), "check", "pg-indexes/02", "--solution", "--json", workspace=workspace)
    assert solution.returncode == 0, solution.stdout + solution.stderr
    (report,) = json.loads(solution.stdout) if solution.stdout.lstrip().startswith("[") else [json.loads(solution.stdout)]
    assert {c["name"]: c["status"] for c in report["checks"]} == {
        "find-account-whatever-case": "pass",
        "find-account-live-only": "pass",
        "find-account-uses-the-index": "pass",
        "recent-orders-newest-first": "pass",
    }
    assert course("--content", str(ROOT), "init", workspace=workspace).returncode == 0
    folder = workspace / "pg-indexes" / "02-async-lookup"
    shutil.copy(EXERCISES / "02-async-lookup" / "mutants" / "upper-instead-of-lower" / "queries.py", folder / "queries.py")
    mutant = course("--content", str(ROOT), "check", "pg-indexes/02", "--json", workspace=workspace)
    assert mutant.returncode == 1, mutant.stdout + mutant.stderr
    (report,) = json.loads(mutant.stdout) if mutant.stdout.lstrip().startswith("[") else [json.loads(mutant.stdout)]
    failed = {c["name"]: c["message"] for c in report["checks"] if c["status"] != "pass"}
    assert list(failed) == ["find-account-uses-the-index"]
    # the statement awaited through AsyncSession is attributed to the learner's line (queries.py:9)
    assert "find_account sent (queries.py:9)" in failed["find-account-uses-the-index"]
    assert "Index Scan using ux_accounts_email_live" in failed["find-account-uses-the-index"]  # the plan, as data, shown


def test_mutate_before_the_path_validates_that_path(copy):
    """`validate --mutate PATH EXERCISE`: PATH is the content root (not the option's value), and a
    mutant whose diagnosis is broken on purpose is found: --mutate runs the graded half too."""
    meta = copy / "exercises" / "pg-indexes" / "01-index-models" / "exercise.toml"
    text = meta.read_text(encoding="utf-8")
    meta.write_text(text.replace('diagnosis = "differ only in case"', 'diagnosis = "a phrase no message has"'), encoding="utf-8")
    run = course("validate", "--mutate", str(copy), "pg-indexes/01", "-v", timeout=600)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "course list" not in run.stdout + run.stderr
    assert "the message of email-unique-whatever-case does not name the mistake ('a phrase no message has')" in run.stdout
    assert "mutants/unique-on-plain-email: wrong message by email-unique-whatever-case" in run.stdout
    assert "mutation score 01-index-models" in run.stdout and "02-async-lookup" not in run.stdout
    again = course("validate", str(copy), "pg-indexes/02", "--static")
    assert again.returncode == 0, again.stdout + again.stderr


def test_a_query_that_names_nothing_says_so():
    run = course("validate", "--static", str(ROOT), "no-such-thing")
    assert run.returncode == 1
    assert "'no-such-thing' is neither a folder nor a module or exercise" in run.stdout
    assert "modules: pg-indexes" in run.stdout


def test_schema_violations_name_the_file_and_line(copy):
    meta = copy / "exercises" / "pg-indexes" / "02-async-lookup" / "exercise.toml"
    text = meta.read_text(encoding="utf-8")
    meta.write_text(text.replace('expect = "recent-orders-newest-first"', "expect = 3"), encoding="utf-8")
    line = next(n for n, row in enumerate(meta.read_text(encoding="utf-8").splitlines(), 1) if row == "expect = 3")
    quiz = copy / "quizzes" / "pg-indexes.toml"
    quiz.write_text(quiz.read_text(encoding="utf-8").replace('kind = "recall"', 'kind = "essay"', 1), encoding="utf-8")
    found = "\n".join(str(p) for p in validate(copy))
    assert f"exercise.toml:{line}: mutants.oldest-first.expect: 3 is not of type 'string' (schema: exercise.schema.json)" in found
    # the loader reports the quiz file (with its line); the schema's report of the same file is left out
    assert re.search(r"pg-indexes\.toml:\d+: question 'partial-unique': kind must be one of choice, recall, sql", found), found
    assert "essay" not in found


def test_the_scaffolds_exercise_has_generated_mutants_and_a_kill_matrix(tmp_path):
    root = tmp_path / "content"
    assert course("new-module", "demo", "--path", str(root)).returncode == 0
    quiz = (root / "quizzes" / "demo.toml").read_text(encoding="utf-8")
    assert 'correct = ["plain"]' in quiz and 'id = "plain"' in quiz  # the docs' advice: choice ids
    assert (root / "schemas" / "exercise.schema.json").is_file()
    assert (
        (root / "exercises" / "demo" / "01-first-model" / "exercise.toml")
        .read_text(encoding="utf-8")
        .startswith("#:schema ../../../schemas/exercise.schema.json")
    )
    run = course("validate", "--mutate", str(root), "-v", timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "make-nullable Mapped[str] -> Mapped[str | None] on Note: killed by text-not-null" in run.stdout
    assert "swap-type Mapped[str] -> Mapped[int] in Mapped[str]: killed by text-is-a-string" in run.stdout
    assert "mutation score 01-first-model: 100% (2 of 2 killed)" in run.stdout
