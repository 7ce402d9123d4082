"""``course export actions``: a template repository graded by plain GitHub Actions — the
students' workspace, a README for them, the course wheel and its dependencies' lock in
``.course-grading/``, and ``.github/workflows/grade.yml``, which grades each push with
``course grade`` (the one points model), puts the points in the job summary
(``$GITHUB_STEP_SUMMARY``) and keeps the JSON, JUnit and CSV reports as artifacts.

It needs no GitHub Classroom (sunset) and none of its actions: courses that used Classroom
make the template repository a GitHub template, and each student's copy of it is graded the
same way (see docs/ci/README.md).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from course import __version__
from course.content.model import Exercise
from course.errors import CourseError
from course.grading import bundle, points
from course.grading.gradescope import copy_upload

FOLDER = ".course-grading"
"""Where the template keeps the course wheel, the lock and the starter baseline."""


class ActionsError(CourseError):
    """A template that cannot be written."""


def ensure_empty(target: Path) -> None:
    """An export writes into a new or empty folder only (checked before anything is graded)."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ActionsError(f"{target} exists and is not an empty folder; fix: name a new folder with -o")


def workflow(exercises: list[Exercise], pip_spec: str | None = None) -> str:
    only = " ".join(f"--exercise {e.full_id}" for e in exercises)
    if pip_spec:
        install = f"python -m pip install {_yaml_quote(pip_spec)}"
    else:
        install = (
            "|\n"
            f"          python -m pip install -r {FOLDER}/requirements.txt\n"
            f"          python -m pip install --no-deps {FOLDER}/{bundle.wheel_name()}"
        )
    return f"""# Grades each push with `course grade` (made by `course export actions`, course {__version__}):
# points per check as the course's points model says, shown in the job summary; the JSON, JUnit
# and CSV reports are kept as an artifact. No GitHub Classroom needed.
name: grade
on: [push, workflow_dispatch]

permissions:
  contents: read

jobs:
  grade:
    runs-on: ubuntu-latest
    timeout-minutes: 30
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.12"
      - name: Install course (the wheel in {FOLDER}/, never by name from an index)
        run: {install}
      - name: Grade
        run: course grade . {only} --starter-baseline {FOLDER}/starter-baseline.json --json results.json --junit results.xml --csv results.csv --results results.jsonl
      - name: Points in the job summary
        if: always()
        run: python -m course.grading.actions summary results.json >> "$GITHUB_STEP_SUMMARY"
      - name: Keep the reports
        if: always()
        uses: actions/upload-artifact@v4
        with:
          name: grading-reports
          path: results.*
"""


def _yaml_quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def readme(exercises: list[Exercise], title: str, worth: points.Worth) -> str:
    rows = "\n".join(f"| `{e.module_id}/{e.id}/` | {e.title} | {points.fmt(sum(worth[e.full_id].values()))} |" for e in exercises)
    return f"""# {title}

Your work for this assignment lives in this repository: each exercise is a folder holding its
starter files. Edit them, commit and push: every push is graded (the **Actions** tab shows the
run; its summary shows your points, check by check in the reports it keeps).

| folder | exercise | points |
|---|---|---|
{rows}

Checks the untouched starter already passes are worth 0 points.

To check your work before you push, install the course from this repository (nothing named
`course` is installed from the package index):

```console
python -m pip install -r {FOLDER}/requirements.txt
python -m pip install --no-deps {FOLDER}/{bundle.wheel_name()}
course start --workspace .        # the lessons, the exercises and their checks
course check 02 --workspace .     # grade one exercise
```

Grading runs your code against a fresh PostgreSQL database it starts for itself: nothing to
install but Python.
"""


def build(
    exercises: list[Exercise], target: Path, *, baseline: points.Baseline, pip_spec: str | None = None, title: str = ""
) -> list[Path]:
    """Write the template repository into ``target`` (new, or empty)."""
    ensure_empty(target)
    worth = points.worth_for(exercises, baseline)
    title = title or (exercises[0].module_id if exercises else "Assignment")
    written = []
    files: list[tuple[Path, str | bytes]] = [
        (target / "README.md", readme(exercises, title, worth)),
        (target / ".gitignore", "__pycache__/\n*.pyc\n.course/\nresults*\n"),
        (target / ".github" / "workflows" / "grade.yml", workflow(exercises, pip_spec)),
        (
            target / FOLDER / "starter-baseline.json",
            json.dumps({e.full_id: baseline.get(e.full_id, []) for e in exercises}, indent=2) + "\n",
        ),
    ]
    if not pip_spec:
        files += [
            (target / FOLDER / bundle.wheel_name(), bundle.wheel_bytes()),
            (target / FOLDER / "requirements.txt", bundle.lock()),
        ]
    try:
        target.mkdir(parents=True, exist_ok=True)
        for exercise in exercises:
            folder = target / exercise.module_id / exercise.id
            copy_upload(exercise.starter_dir, folder)  # never through a link out of the content
            written += [p for p in folder.rglob("*") if p.is_file()]
        for path, data in files:
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(data, bytes):
                path.write_bytes(data)
            else:
                path.write_text(data, encoding="utf-8")
            written.append(path)
    except OSError as error:
        raise ActionsError(f"cannot write {target} ({error.strerror or error}); fix: pick a writable folder with -o") from None
    return written


def summary(report: dict) -> str:
    """The job summary (Markdown) of a ``course grade --json`` report: points per student and
    per exercise, and each check that is not passing."""
    lines = []
    for student in report.get("students", []):
        lines += [
            f"## {student['student']}: {points.fmt(student.get('points', 0))} / {points.fmt(student.get('max_points', 0))} points",
            "",
            "| exercise | status | points |",
            "|---|---|---|",
        ]
        for result in student["results"]:
            lines.append(
                f"| {result['exercise'].rsplit('/', 1)[-1]} | {result['status']} | "
                f"{points.fmt(result.get('points', 0))} / {points.fmt(result.get('max_points', 0))} |"
            )
        failing = [(r, c) for r in student["results"] for c in r["checks"] if c["status"] != "pass"]
        if failing:
            lines += ["", "<details><summary>What to fix</summary>", ""]
            for result, check in failing:
                message = " ".join((check.get("message") or check["status"]).split())[:300]
                lines.append(f"- **{result['exercise'].rsplit('/', 1)[-1]}** {check.get('title') or check['name']}: {message}")
            lines += ["", "</details>"]
        lines.append("")
    return "\n".join(lines) or "No results (grading did not run: see the Grade step's log).\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "summary":
        print("usage: python -m course.grading.actions summary RESULTS.json", file=sys.stderr)
        return 2
    try:
        report = json.loads(Path(args[1]).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        print(f"No results to summarise ({error}): see the Grade step's log.")
        return 0
    print(summary(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
