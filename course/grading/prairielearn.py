"""``course export prairielearn``: questions graded by PrairieLearn's external grader, and the
``run`` step its container calls.

PrairieLearn's external grading (its docs, ``docs/externalGrading.md``): a question's
``info.json`` names a Docker ``image`` and an ``entrypoint``; for each submission the grader
mounts ``/grade`` — ``/grade/serverFilesCourse`` (the course's shared files the question lists),
``/grade/tests`` (the question's ``tests/``), ``/grade/student`` (the submitted files),
``/grade/data/data.json`` — runs the entrypoint, and reads ``/grade/results/results.json``
(``score`` 0..1, ``gradable``, ``message``, ``output``, ``tests`` of ``name``, ``description``,
``points``, ``max_points``, ``message``, ``output``; at most 1 MB). The grading container has no
network by default, so the image carries course: built from the Dockerfile the export writes,
which installs the wheel of the running version (never ``course`` by name from an index).

The export writes::

    image/Dockerfile, the course wheel, requirements.txt   # docker build -t IMAGE image/
    serverFilesCourse/course_grader/run.sh               # the entrypoint (+ content/ if any)
    questions/course/<exercise>/info.json, question.html, tests/course-question.json, starter/...

``COURSE_GRADE_ROOT`` moves ``/grade`` (a test runs the real entrypoint on a fake tree).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

from course import __version__
from course.content.model import Exercise
from course.errors import CourseError
from course.grading import bundle, points
from course.grading.actions import ensure_empty
from course.grading.gradescope import config_of, copy_upload

QUESTION_CONFIG = "course-question.json"
GRADER_FOLDER = "course_grader"
OUTPUT_CAP = 4000
"""Characters of a test's output kept (results.json must stay under PrairieLearn's 1 MB)."""
NAMESPACE = uuid.UUID("4f1c2a64-1d0e-4c53-9a8e-2b7f6f0c9d11")
"""Question uuids derive from the exercise's id: the same question on every export."""

DOCKERFILE = """# The external-grader image of course {version} (made by `course export prairielearn`).
# Build and push it under the name the questions' info.json use: docker build -t IMAGE .
FROM python:3.12-slim
COPY {lock} {wheel} /opt/course/
{install}
"""
FROM_WHEEL = """RUN pip install --no-cache-dir -r /opt/course/{lock} \\
 && pip install --no-cache-dir --no-deps /opt/course/{wheel} \\
 && pip check"""
FROM_SPEC = "RUN pip install --no-cache-dir {pip_spec}"

RUN_SH = """#!/bin/sh
# PrairieLearn's entrypoint: grade /grade/student into /grade/results/results.json.
exec python3 -m course.grading.prairielearn run --root "${COURSE_GRADE_ROOT:-/grade}"
"""


class PrairieLearnError(CourseError):
    """An export that cannot be written."""


def question_html(exercise: Exercise) -> str:
    plain = [name for name in exercise.edit if not any(c in name for c in "*?[")]
    patterns = [name for name in exercise.edit if name not in plain]
    editors = "\n".join(
        f'  <pl-file-editor file-name="{name}" ace-mode="ace/mode/python" source-file-name="starter/{name}"></pl-file-editor>'
        for name in plain
    )
    upload = f'  <pl-file-upload file-patterns="{", ".join(patterns)}"></pl-file-upload>\n' if patterns else ""
    return f"""<pl-question-panel>
  <markdown>
{exercise.task.strip()}
  </markdown>
{editors}
{upload}</pl-question-panel>

<pl-submission-panel>
  <pl-external-grader-results></pl-external-grader-results>
  <pl-file-preview></pl-file-preview>
</pl-submission-panel>
"""


def info_json(exercise: Exercise, image: str) -> dict:
    return {
        "uuid": str(uuid.uuid5(NAMESPACE, exercise.full_id)),
        "title": exercise.title,
        "topic": exercise.module_id,
        "tags": ["course", exercise.module_id],
        "type": "v3",
        "singleVariant": True,
        "gradingMethod": "External",
        "externalGradingOptions": {
            "enabled": True,
            "image": image,
            "serverFilesCourse": [f"{GRADER_FOLDER}/"],
            "entrypoint": f"/grade/serverFilesCourse/{GRADER_FOLDER}/run.sh",
            "timeout": int(min(600, max(60, exercise.timeout * 4))),
        },
    }


def build(
    exercises: list[Exercise],
    target: Path,
    *,
    baseline: points.Baseline,
    image: str,
    pip_spec: str | None = None,
    content_roots: Sequence[Path] = (),
) -> list[Path]:
    """Write the image, the grader's shared files and one question per exercise into ``target``."""
    ensure_empty(target)
    config = config_of(exercises, baseline)
    wheel, lock = bundle.wheel_name(), "requirements.txt"
    files: dict[Path, str | bytes] = {}
    if pip_spec:  # installed as the instructor wrote it: no wheel, no lock
        install = FROM_SPEC.format(pip_spec=shlex.quote(pip_spec))
        dockerfile = DOCKERFILE.replace("COPY {lock} {wheel} /opt/course/\n", "")
    else:
        install = FROM_WHEEL.format(lock=lock, wheel=wheel)
        files[target / "image" / wheel] = bundle.wheel_bytes()
        files[target / "image" / lock] = bundle.lock()
        dockerfile = DOCKERFILE
    files[target / "image" / "Dockerfile"] = dockerfile.format(version=__version__, lock=lock, wheel=wheel, install=install)
    grader = target / "serverFilesCourse" / GRADER_FOLDER
    files[grader / "run.sh"] = RUN_SH
    content = []
    for number, root in enumerate(content_roots):
        content.append(f"content/{number}")
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.is_symlink() and "__pycache__" not in path.parts:
                files[grader / "content" / str(number) / path.relative_to(root)] = path.read_bytes()
    for exercise, entry in zip(exercises, config["exercises"], strict=True):
        question = target / "questions" / exercise.module_id / exercise.id
        files[question / "info.json"] = json.dumps(info_json(exercise, image), indent=2) + "\n"
        files[question / "question.html"] = question_html(exercise)
        files[question / "tests" / QUESTION_CONFIG] = json.dumps({**entry, "content": content}, indent=2) + "\n"
        for path in sorted(exercise.starter_dir.rglob("*")):
            if path.is_file() and not path.is_symlink() and "__pycache__" not in path.parts:
                files[question / "starter" / path.relative_to(exercise.starter_dir)] = path.read_bytes()
    try:
        for path, data in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(data, bytes):
                path.write_bytes(data)
            else:
                path.write_text(data, encoding="utf-8")
        (grader / "run.sh").chmod(0o755)
    except OSError as error:
        raise PrairieLearnError(
            f"cannot write {target} ({error.strerror or error}); fix: pick a writable folder with -o"
        ) from None
    return list(files)


# Inside the grading container.


def results(entry: dict, result: dict | None, notes: list[str], failure: str = "") -> dict:
    """PrairieLearn's results.json for one exercise: a test per check worth what the points
    model says; ``score`` is the share of the points (0..1). A grading that could not run at
    all (not the student's code: the grader) is ``gradable: false``, which costs no attempt."""
    from course.grading.gradescope import _check_text

    by_name = {c["name"]: c for c in (result or {}).get("checks", [])}
    believed = result is not None and not result.get("tampered")
    tests = []
    for check in entry["checks"]:
        got = by_name.get(check["name"])
        passed = believed and got is not None and got["status"] == "pass"
        worth = check["worth"]
        message = (got or {}).get("message", "") if got is not None else "not run: the code did not get this far"
        output = _check_text(got) if got is not None else ""
        if worth == 0 and check["weight"] > 0:
            message = (message + "\n" if message else "") + "Worth 0 points: the untouched starter already passes this check."
        tests.append(
            {
                "name": check["title"],
                "description": check["name"],
                "points": worth if passed else 0.0,
                "max_points": worth,
                "message": message[:OUTPUT_CAP],
                "output": output[:OUTPUT_CAP],
            }
        )
    earned = sum(t["points"] for t in tests)
    most = sum(t["max_points"] for t in tests)
    if failure:
        return {"gradable": False, "score": 0.0, "message": failure, "output": "\n".join(notes), "tests": tests}
    return {
        "gradable": True,
        "score": round(earned / most, 4) if most else 0.0,
        "message": f"{points.fmt(earned)} of {points.fmt(most)} points.",
        "output": "\n".join(notes),
        "tests": tests,
    }


def run(root: Path) -> int:
    """Grade ``root/student`` against the question's exercise; write ``root/results/results.json``."""
    results_dir = root / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    entry = json.loads((root / "tests" / QUESTION_CONFIG).read_text(encoding="utf-8"))
    grader = root / "serverFilesCourse" / GRADER_FOLDER
    content = [str(grader / c) for c in entry.get("content", [])]
    notes: list[str] = []
    failure = ""
    record = None
    with tempfile.TemporaryDirectory(prefix="course-grader-") as temp:
        temp_dir = Path(temp)
        baseline = temp_dir / "baseline.json"  # the starter was graded at export: not again here
        baseline.write_text(
            json.dumps({entry["id"]: [c["name"] for c in entry["checks"] if c["worth"] == 0 and c["weight"] > 0]}),
            encoding="utf-8",
        )
        try:
            from course.content.model import content_roots, load_content

            modules, _ = load_content(content_roots(content))
            known = {e.full_id: e for m in modules for e in m.exercises}
            if entry["id"] not in known:
                raise CourseError(f"this grader's exercise {entry['id']} is not in course {__version__}")
            exercise = known[entry["id"]]
            folder = temp_dir / "submission" / exercise.module_id / exercise.id
            copy_upload(exercise.starter_dir, folder)  # never through a link out of the content
            upload = temp_dir / "upload"
            left_out = copy_upload(root / "student", upload) if (root / "student").is_dir() else []
            submitted = sorted(p.relative_to(upload).as_posix() for p in upload.rglob("*") if p.is_file())
            shutil.copytree(upload, folder, dirs_exist_ok=True)
            notes = [f"graded: {', '.join(submitted) or 'nothing submitted (the starter files)'}"]
            notes += [f"left out: {note}" for note in left_out]
            lines = temp_dir / "results.jsonl"
            graded = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "course.cli",
                    *[arg for c in content for arg in ("--content", c)],
                    "grade",
                    str(temp_dir / "submission"),
                    "--exercise",
                    entry["id"],
                    "--results",
                    str(lines),
                    "--jobs",
                    "1",
                    "--starter-baseline",
                    str(baseline),
                ],
                capture_output=True,
                text=True,
                cwd=temp_dir,
                encoding="utf-8",
            )
            if graded.returncode not in (0, 1):
                failure = "grading did not run: " + (graded.stderr.strip().splitlines() or ["no reason given"])[-1]
            else:
                for line in lines.read_text(encoding="utf-8").splitlines():
                    record = json.loads(line)["result"]
        except (CourseError, OSError) as error:
            failure = f"grading did not run: {error}"
    (results_dir / "results.json").write_text(
        json.dumps(results(entry, record, notes, failure), indent=2) + "\n", encoding="utf-8"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m course.grading.prairielearn")
    commands = parser.add_subparsers(dest="command", required=True)
    step = commands.add_parser("run", help="grade /grade/student into /grade/results/results.json")
    step.add_argument("--root", type=Path, default=Path(os.environ.get("COURSE_GRADE_ROOT", "/grade")))
    args = parser.parse_args(argv)
    return run(args.root)


if __name__ == "__main__":
    sys.exit(main())
