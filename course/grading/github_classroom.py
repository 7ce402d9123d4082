"""``course export classroom``: a GitHub Classroom template repository — the students' workspace,
a README for them, and ``.github/workflows/classroom.yml``, which grades each push with the
Classroom autograding actions (one test per exercise, worth its checks' points) and keeps the
JSON and JUnit reports as artifacts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from course import __version__
from course.content.model import Exercise
from course.errors import CourseError
from course.grading.gradescope import weights_of


class ClassroomError(CourseError):
    """A template that cannot be written."""


def _step_id(exercise: Exercise) -> str:
    return "ex_" + "".join(c if c.isalnum() else "_" for c in exercise.id).lower()


def workflow(exercises: list[Exercise], pip_spec: str) -> str:
    steps = []
    for exercise in exercises:
        points = sum(weights_of(exercise).values())
        steps.append(f"""      - name: {exercise.id}
        id: {_step_id(exercise)}
        uses: classroom-resources/autograding-command-grader@v1
        with:
          test-name: {json.dumps(exercise.full_id)}
          command: course grade . --exercise {exercise.full_id} --results results-{exercise.id}.jsonl
          timeout: 10
          max-score: {points:g}""")
    runners = ",".join(_step_id(e) for e in exercises)
    only = " ".join(f"--exercise {e.full_id}" for e in exercises)
    env = "\n".join(
        f'          {_step_id(e).upper()}_RESULTS: "${{{{ steps.{_step_id(e)}.outputs.result }}}}"' for e in exercises
    )
    return f"""# Grades each push: one Classroom test per exercise, worth the points of its checks.
# Made by `course export classroom` (course {__version__}).
name: classroom
on: [push, workflow_dispatch]

permissions:
  checks: write
  actions: read
  contents: read

jobs:
  grade:
    runs-on: ubuntu-latest
    if: github.actor != 'github-classroom[bot]'
    timeout-minutes: 30
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.12"
      - name: Install course
        run: pip install {_yaml_quote(pip_spec)}
{chr(10).join(steps)}
      - name: Autograding reporter
        uses: classroom-resources/autograding-grading-reporter@v1
        env:
{env}
        with:
          runners: {runners}
      - name: Reports
        if: always()
        run: course grade . {only} --json results.json --junit results.xml --results results.jsonl || [ $? -eq 1 ]
      - name: Keep the reports
        if: always()
        uses: actions/upload-artifact@v4
        with:
          name: grading-reports
          path: results.*
"""


def _yaml_quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def readme(exercises: list[Exercise], title: str) -> str:
    rows = "\n".join(f"| `{e.module_id}/{e.id}/` | {e.title} | {sum(weights_of(e).values()):g} |" for e in exercises)
    return f"""# {title}

Your work for this assignment lives in this repository: each exercise is a folder holding its
starter files. Edit them, commit and push: every push is graded (the **Actions** tab shows the
run, and GitHub Classroom shows your points).

| folder | exercise | points |
|---|---|---|
{rows}

To check your work before you push, with the course installed (`pip install course=={__version__}`):

```console
course start --workspace .        # the lessons, the exercises and their checks
course check 02 --workspace .     # grade one exercise
```

Grading runs your code against a fresh PostgreSQL database it starts for itself: nothing to
install but Python.
"""


def build(exercises: list[Exercise], target: Path, *, pip_spec: str | None = None, title: str = "") -> list[Path]:
    """Write the template repository into ``target`` (new, or empty)."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ClassroomError(f"{target} exists and is not an empty folder; fix: name a new folder with -o")
    pip_spec = pip_spec or f"course=={__version__}"
    title = title or (exercises[0].module_id if exercises else "Assignment")
    written = []
    try:
        target.mkdir(parents=True, exist_ok=True)
        for exercise in exercises:
            folder = target / exercise.module_id / exercise.id
            shutil.copytree(exercise.starter_dir, folder, ignore=shutil.ignore_patterns("__pycache__"))
            written += [p for p in folder.rglob("*") if p.is_file()]
        for path, text in (
            (target / "README.md", readme(exercises, title)),
            (target / ".gitignore", "__pycache__/\n*.pyc\n.course/\nresults*\n"),
            (target / ".github" / "workflows" / "classroom.yml", workflow(exercises, pip_spec)),
        ):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(path)
    except OSError as error:
        raise ClassroomError(f"cannot write {target} ({error.strerror or error}); fix: pick a writable folder with -o") from None
    return written
