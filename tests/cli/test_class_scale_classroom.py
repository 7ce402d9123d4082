"""`course export classroom`: the template repository's workflow runs the grading it promises,
and every workflow we ship passes actionlint."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from course import __version__
from course.content.model import load_modules

from test_class_scale import cli

ACTIONLINT = shutil.which("actionlint")
DOCS_CI = Path(__file__).resolve().parents[2] / "docs" / "ci"


def lint(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([ACTIONLINT, "-no-color", str(path)], capture_output=True, text=True, timeout=120, encoding="utf-8")


def test_the_classroom_template_grades_what_it_says(tmp_path):
    template = tmp_path / "template"
    made = cli("export", "classroom", "02", "03", "-o", str(template))
    assert made.returncode == 0, made.stderr
    assert (template / "sqlalchemy-2" / "02-models" / "models.py").is_file()
    assert "02-models" in (template / "README.md").read_text(encoding="utf-8")
    workflow = (template / ".github" / "workflows" / "classroom.yml").read_text(encoding="utf-8")
    commands = re.findall(r"^\s+command: (.+)$", workflow, re.M)
    assert len(commands) == 2 and re.findall(r"max-score: (\d+)", workflow) == ["8", "6"]
    assert "runners: ex_02_models,ex_03_engine_session" in workflow
    assert "EX_02_MODELS_RESULTS" in workflow and f"course=={__version__}" in workflow

    models = next(e for e in load_modules()[0].exercises if e.id == "02-models")
    shutil.copytree(models.solution_dir, template / "sqlalchemy-2" / "02-models", dirs_exist_ok=True)
    ran = [
        subprocess.run(command.split(), cwd=template, capture_output=True, text=True, timeout=300, encoding="utf-8")
        for command in commands
    ]
    assert [r.returncode for r in ran] == [0, 1], [r.stderr for r in ran]  # points for 02 only

    again = cli("export", "classroom", "02", "-o", str(template))
    assert again.returncode == 2 and "not an empty folder" in again.stderr and len(again.stderr.strip().splitlines()) == 1

    if ACTIONLINT is None:
        pytest.skip("actionlint is not installed (pip install -e '.[test]'): the workflows were not linted")
    for path in [template / ".github" / "workflows" / "classroom.yml", *sorted(DOCS_CI.glob("*.yml"))]:
        result = lint(path)
        assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / "broken.yml"  # the linter does find mistakes
    broken.write_text(workflow.replace("steps.ex_02_models.outputs", "steps.ex_02_model.outputs"), encoding="utf-8")
    assert lint(broken).returncode == 1
