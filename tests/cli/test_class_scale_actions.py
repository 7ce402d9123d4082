"""`course export actions` (and its alias `classroom`): a template repository graded by plain
GitHub Actions — its workflow runs the grading it promises, with the points in the job summary,
installs course from the wheel it carries, and every workflow we ship passes actionlint."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course import __version__
from course.content.model import load_modules

from test_class_scale import cli

ACTIONLINT = shutil.which("actionlint")
DOCS_CI = Path(__file__).resolve().parents[2] / "docs" / "ci"


def lint(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([ACTIONLINT, "-no-color", str(path)], capture_output=True, text=True, timeout=120, encoding="utf-8")


def test_the_actions_template_grades_what_it_says(tmp_path):
    template = tmp_path / "template"
    made = cli("export", "actions", "02", "03", "-o", str(template))
    assert made.returncode == 0, made.stderr
    assert (template / "sqlalchemy-2" / "02-models" / "models.py").is_file()
    readme = (template / "README.md").read_text(encoding="utf-8")
    assert "02-models" in readme and "--no-deps .course-grading/course-" in readme
    workflow = (template / ".github" / "workflows" / "grade.yml").read_text(encoding="utf-8")
    uses = re.findall(r"uses: (\S+)", workflow)
    assert uses == ["actions/checkout@v4", "actions/setup-python@v5", "actions/upload-artifact@v4"]  # no Classroom action
    assert f"course=={__version__}" not in workflow and f".course-grading/course-{__version__}-py3-none-any.whl" in workflow
    assert (template / ".course-grading" / f"course-{__version__}-py3-none-any.whl").is_file()
    assert '>> "$GITHUB_STEP_SUMMARY"' in workflow

    models = next(e for e in load_modules()[0].exercises if e.id == "02-models")
    shutil.copytree(models.solution_dir, template / "sqlalchemy-2" / "02-models", dirs_exist_ok=True)
    grade = re.search(r"^\s+run: (course grade .+)$", workflow, re.M)
    assert grade is not None
    ran = subprocess.run(
        [sys.executable, "-m", "course.cli", *grade.group(1).split()[1:]],
        cwd=template,
        capture_output=True,
        text=True,
        timeout=300,
        encoding="utf-8",
    )
    assert ran.returncode == 1, ran.stderr  # 03 is not solved: the job shows a failure
    assert "grading the starters" not in ran.stderr.lower()  # the export's baseline is used, not graded again
    report = json.loads((template / "results.json").read_text(encoding="utf-8"))
    student = report["students"][0]
    by_exercise = {r["exercise"]: r for r in student["results"]}
    assert by_exercise["sqlalchemy-2/02-models"]["points"] == by_exercise["sqlalchemy-2/02-models"]["max_points"] > 0
    assert by_exercise["sqlalchemy-2/03-engine-session"]["points"] == 0
    summary = subprocess.run(
        [sys.executable, "-m", "course.grading.actions", "summary", "results.json"],
        cwd=template,
        capture_output=True,
        text=True,
        timeout=60,
        encoding="utf-8",
    )
    assert summary.returncode == 0
    first = summary.stdout.splitlines()[0]
    assert first == f"## template: {student['points']:g} / {student['max_points']:g} points", first
    assert "| 02-models | pass |" in summary.stdout and "What to fix" in summary.stdout
    assert (template / "results.xml").is_file() and (template / "results.csv").is_file()

    again = cli("export", "actions", "02", "-o", str(template))
    assert again.returncode == 2 and "not an empty folder" in again.stderr and len(again.stderr.strip().splitlines()) == 1

    alias = cli("export", "classroom", "02", "-o", str(tmp_path / "classroom"))
    assert alias.returncode == 0, alias.stderr
    assert "is `course export actions`" in alias.stderr
    assert (tmp_path / "classroom" / ".github" / "workflows" / "grade.yml").read_text(encoding="utf-8") == workflow.replace(
        " --exercise sqlalchemy-2/03-engine-session", ""
    )

    if ACTIONLINT is None:
        pytest.skip("actionlint is not installed (pip install -e '.[test]'): the workflows were not linted")
    for path in [template / ".github" / "workflows" / "grade.yml", *sorted(DOCS_CI.glob("*.yml"))]:
        result = lint(path)
        assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / "broken.yml"  # the linter does find mistakes
    broken.write_text(workflow.replace("runs-on: ubuntu-latest", "runs-on: [ubuntu-latest"), encoding="utf-8")
    assert lint(broken).returncode == 1
