"""Run from a folder that holds packages named like ours (a clone of this repository, or a
student's folder with a `checker.py`), every helper process still imports the installed course:
the grading service is used, and grading works."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# it starts `course db start`, whose service another test makes stale by touching a source file:
# these tests run one after another, in one worker
pytestmark = pytest.mark.xdist_group("shared-server")


SHADOW = "raise SystemExit('imported the shadowing package from the current folder')\n"


def course_script() -> str:
    script = Path(sys.executable).parent / "course"
    return str(script) if script.exists() else shutil.which("course")


def run(*args: str, cwd: Path, workspace: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COURSE_WORKSPACE": str(workspace)}
    return subprocess.run(
        [course_script(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=180, encoding="utf-8"
    )


def test_helpers_ignore_same_named_packages_in_the_current_folder(tmp_path):
    clone = tmp_path / "clone"
    for package in ("checker", "course"):
        (clone / package).mkdir(parents=True)
        (clone / package / "__init__.py").write_text(SHADOW, encoding="utf-8")
    (clone / "checker.py").write_text(SHADOW, encoding="utf-8")
    workspace = tmp_path / "ws"
    started = run("db", "start", cwd=clone, workspace=workspace)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert "grading service: ready" in started.stdout, started.stdout + started.stderr
        checked = run("check", "03", "--solution", cwd=clone, workspace=workspace)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "grading here instead" not in checked.stdout + checked.stderr  # the service graded it
    finally:
        stopped = run("db", "stop", cwd=clone, workspace=workspace)
    assert "stopped the shared server" in stopped.stdout, stopped.stdout + stopped.stderr


def test_a_checker_module_in_the_exercise_folder_does_not_break_grading(tmp_path):
    from course.content.model import find_exercise, load_modules

    workspace = tmp_path / "ws"
    assert run("init", cwd=tmp_path, workspace=workspace).returncode == 0
    exercise = find_exercise(load_modules(), "03")
    folder = workspace / exercise.module_id / exercise.id
    shutil.copytree(exercise.solution_dir, folder, dirs_exist_ok=True)
    (folder / "checker.py").write_text(SHADOW, encoding="utf-8")
    (folder / "course").mkdir()
    (folder / "course" / "__init__.py").write_text(SHADOW, encoding="utf-8")
    checked = run("check", "03", cwd=folder, workspace=workspace)
    assert checked.returncode == 0, checked.stdout + checked.stderr
