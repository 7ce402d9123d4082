"""`course export prairielearn`: the layout PrairieLearn's external grader documents
(docs/externalGrading.md in PrairieLearn/PrairieLearn) and the real entrypoint run on a fake
/grade tree against a real Postgres, its results.json validated against a schema of that format."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import jsonschema

from course import __version__
from course.content.model import load_modules

from test_class_scale import cli

IMAGE = {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "object", "required": ["url"]}]}}
# /grade/results/results.json as PrairieLearn's external grading documents it: `score` in [0, 1]
# (required when gradable), `gradable` (false: invalid, no attempt used), `format_errors`,
# `message`, `output`, `images`, and `tests` rendered by <pl-external-grader-results>. Any other
# top-level key is allowed there; the tests' keys are the element's.
PRAIRIELEARN_RESULTS = {
    "type": "object",
    "properties": {
        "gradable": {"type": "boolean"},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "format_errors": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "message": {"type": "string"},
        "output": {"type": "string"},
        "images": IMAGE,
        "tests": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "description": {"type": "string"},
                    "points": {"type": "number"},
                    "max_points": {"type": "number"},
                    "message": {"type": "string"},
                    "output": {"type": "string"},
                    "images": IMAGE,
                },
                "required": ["name", "points", "max_points"],
                "additionalProperties": False,
            },
        },
    },
    "if": {"properties": {"gradable": {"const": False}}, "required": ["gradable"]},
    "else": {"required": ["score"]},
}


def grade(tmp_path: Path, export: Path, question: Path, student) -> dict:
    """PrairieLearn's steps: /grade/serverFilesCourse (what info.json lists), /grade/tests (the
    question's tests/), /grade/student (the submitted files), /grade/data/data.json; then the
    entrypoint; then /grade/results/results.json (a folder the job must create)."""
    info = json.loads((question / "info.json").read_text(encoding="utf-8"))["externalGradingOptions"]
    root = tmp_path / "grade"
    shutil.rmtree(root, ignore_errors=True)
    for shared in info["serverFilesCourse"]:
        shutil.copytree(export / "serverFilesCourse" / shared, root / "serverFilesCourse" / shared)
    shutil.copytree(question / "tests", root / "tests")
    (root / "student").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "data" / "data.json").write_text(json.dumps({"params": {}, "submitted_answers": {}}), encoding="utf-8")
    student(root / "student")
    entrypoint = Path(info["entrypoint"].replace("/grade/", f"{root}/", 1))
    env = {
        **os.environ,
        "COURSE_GRADE_ROOT": str(root),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",  # python3 of this environment
    }
    ran = subprocess.run([str(entrypoint)], capture_output=True, text=True, env=env, cwd=root, timeout=300, encoding="utf-8")
    assert ran.returncode == 0, ran.stderr
    results_file = root / "results" / "results.json"
    assert results_file.stat().st_size < 1_000_000  # PrairieLearn's limit
    results = json.loads(results_file.read_text(encoding="utf-8"))
    jsonschema.validate(results, PRAIRIELEARN_RESULTS)
    for test in results["tests"]:
        assert 0 <= test["points"] <= test["max_points"]
    return results


def test_the_prairielearn_export_follows_the_documented_layout_and_results(tmp_path):
    models = next(e for e in load_modules()[0].exercises if e.id == "02-models")
    export = tmp_path / "pl"
    made = cli("export", "prairielearn", "02", "-o", str(export), "--image", "example/course-grader:1")
    assert made.returncode == 0, made.stderr

    question = export / "questions" / "sqlalchemy-2" / "02-models"
    info = json.loads((question / "info.json").read_text(encoding="utf-8"))
    assert uuid.UUID(info["uuid"]) and info["type"] == "v3" and info["gradingMethod"] == "External"
    options = info["externalGradingOptions"]
    assert options["enabled"] is True and options["image"] == "example/course-grader:1"
    assert 0 < options["timeout"] <= 600
    assert options["serverFilesCourse"] == ["course_grader/"]
    assert options["entrypoint"].startswith("/grade/serverFilesCourse/course_grader/")
    entrypoint = export / options["entrypoint"].removeprefix("/grade/")
    assert entrypoint.is_file() and os.access(entrypoint, os.X_OK)
    html = (question / "question.html").read_text(encoding="utf-8")
    assert "<pl-external-grader-results>" in html and 'file-name="models.py"' in html
    assert (question / "starter" / "models.py").is_file()  # the editor's starting text

    dockerfile = (export / "image" / "Dockerfile").read_text(encoding="utf-8")
    wheel = f"course-{__version__}-py3-none-any.whl"
    assert (export / "image" / wheel).is_file() and f"--no-deps /opt/course/{wheel}" in dockerfile
    assert f"course=={__version__}" not in dockerfile and "-r /opt/course/requirements.txt" in dockerfile
    again = cli("export", "prairielearn", "02", "-o", str(export))
    assert again.returncode == 2 and "not an empty folder" in again.stderr

    solved = grade(tmp_path, export, question, lambda into: shutil.copy(models.solution_dir / "models.py", into / "models.py"))
    assert solved["gradable"] is True and solved["score"] == 1
    assert all(t["points"] == t["max_points"] for t in solved["tests"])

    nothing = grade(tmp_path, export, question, lambda into: None)
    assert nothing["score"] == 0 and "nothing submitted" in nothing["output"]
    assert any("starter already passes" in t["message"] and t["max_points"] == 0 for t in nothing["tests"])

    broken = (models.solution_dir / "models.py").read_text(encoding="utf-8").replace("unique=True", "")
    partly = grade(tmp_path, export, question, lambda into: (into / "models.py").write_text(broken, encoding="utf-8"))
    failing = [t for t in partly["tests"] if t["points"] < t["max_points"]]
    assert [t["description"] for t in failing] == ["email-unique"] and "UNIQUE" in failing[0]["message"]
    most = sum(t["max_points"] for t in partly["tests"])
    assert partly["score"] == round((most - failing[0]["max_points"]) / most, 4)

    linked = grade(tmp_path, export, question, lambda into: (into / "models.py").symlink_to(models.solution_dir / "models.py"))
    assert linked["score"] == 0 and "models.py: a symbolic link, not followed" in linked["output"]
