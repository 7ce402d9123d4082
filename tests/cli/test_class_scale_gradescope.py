"""`course export gradescope`: the real run_autograder, on a fake /autograder tree, against a real
Postgres; its results.json validated against a schema of Gradescope's documented format."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema

from course import __version__
from course.content.model import load_modules
from course.learner.workspace import Workspace

VISIBILITY = {"enum": ["hidden", "after_due_date", "after_published", "visible"]}
FORMAT = {"enum": ["text", "html", "simple_format", "md", "ansi"]}
# Gradescope's autograder results format (its "Autograder Specifications"): the file
# /autograder/results/results.json; a score, or tests with scores; every field below is optional
# there unless listed as required.
GRADESCOPE_RESULTS = {
    "type": "object",
    "properties": {
        "score": {"type": "number"},
        "execution_time": {"type": "number"},
        "output": {"type": "string"},
        "output_format": FORMAT,
        "test_output_format": FORMAT,
        "test_name_format": FORMAT,
        "visibility": VISIBILITY,
        "stdout_visibility": VISIBILITY,
        "extra_data": {"type": "object"},
        "tests": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "score": {"type": "number"},
                    "max_score": {"type": "number"},
                    "status": {"enum": ["passed", "failed"]},
                    "name": {"type": "string"},
                    "name_format": FORMAT,
                    "number": {"type": "string"},
                    "output": {"type": "string"},
                    "output_format": FORMAT,
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "visibility": VISIBILITY,
                    "extra_data": {"type": "object"},
                },
                "additionalProperties": False,
            },
        },
        "leaderboard": {"type": "array"},
    },
    "anyOf": [{"required": ["score"]}, {"required": ["tests"]}],
    "additionalProperties": False,
}
WE_WRITE = ["name", "score", "max_score", "status", "output", "visibility"]


def cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "course.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=300, encoding="utf-8"
    )


def autograder(tmp_path: Path, archive: Path, upload) -> dict:
    """Gradescope's steps: unzip into source/, run_autograder beside it, the upload in submission/."""
    root = tmp_path / "autograder"
    shutil.rmtree(root, ignore_errors=True)
    (root / "source").mkdir(parents=True)
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(root / "source")
        assert zipped.getinfo("run_autograder").external_attr >> 16 & 0o111  # executable as unzipped by Gradescope
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    (root / "run_autograder").chmod(0o755)
    (root / "submission").mkdir()
    upload(root / "submission")
    env = {**os.environ, "COURSE_AUTOGRADER_ROOT": str(root), "COURSE_AUTOGRADER_PYTHON": sys.executable}
    ran = subprocess.run(
        [str(root / "run_autograder")], capture_output=True, text=True, env=env, cwd=root, timeout=300, encoding="utf-8"
    )
    assert ran.returncode == 0, ran.stderr
    results = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    jsonschema.validate(results, GRADESCOPE_RESULTS)
    for test in results["tests"]:
        assert all(key in test for key in WE_WRITE), test
        assert 0 <= test["score"] <= test["max_score"]
    assert results["score"] == sum(t["score"] for t in results["tests"])
    return results


def test_the_autograder_grades_loose_files_and_whole_workspaces(tmp_path):
    module = load_modules()[0]
    models = next(e for e in module.exercises if e.id == "02-models")
    archive = tmp_path / "autograder.zip"
    made = cli("export", "gradescope", "02", "03", "-o", str(archive))
    assert made.returncode == 0, made.stderr
    setup = zipfile.ZipFile(archive).read("setup.sh").decode()
    assert f"course=={__version__}" in setup  # pinned to this version
    for script in ("setup.sh", "run_autograder"):
        checked = subprocess.run(
            ["bash", "-n"], input=zipfile.ZipFile(archive).read(script).decode(), capture_output=True, text=True, encoding="utf-8"
        )
        assert checked.returncode == 0, checked.stderr

    def workspace_upload(into: Path):  # the whole workspace, as `course init` made it, 02 solved
        workspace = Workspace(into / "course-work")
        workspace.init([module])
        workspace.close()
        shutil.copytree(models.solution_dir, into / "course-work" / "sqlalchemy-2" / "02-models", dirs_exist_ok=True)

    results = autograder(tmp_path, archive, workspace_upload)
    by_exercise = {}
    for test in results["tests"]:
        by_exercise.setdefault(test["name"].split(":", 1)[0], []).append(test)
    assert set(by_exercise) == {"02-models", "03-engine-session"}
    assert all(t["status"] == "passed" for t in by_exercise["02-models"])
    failing = [t for t in by_exercise["03-engine-session"] if t["status"] == "failed"]
    assert failing and all(t["score"] == 0 and t["output"] for t in failing)
    assert 0 < results["score"] < sum(t["max_score"] for t in results["tests"])
    assert "course-work/sqlalchemy-2/02-models" in results["output"]

    only_models = tmp_path / "models.zip"
    assert cli("export", "gradescope", "02", "-o", str(only_models)).returncode == 0
    broken = (models.solution_dir / "models.py").read_text(encoding="utf-8").replace("unique=True", "")
    loose = autograder(tmp_path, only_models, lambda into: (into / "models.py").write_text(broken, encoding="utf-8"))
    failed = [t for t in loose["tests"] if t["status"] == "failed"]
    assert [t["name"] for t in failed] == ["02-models: users.email is UNIQUE"]
    assert "UNIQUE" in failed[0]["output"] and "SQL" not in failed[0]["name"]
    assert loose["score"] == len(loose["tests"]) - 1  # equal weights by default


def test_weights_from_exercise_toml_and_code_that_cannot_run(tmp_path):
    content = tmp_path / "content"
    assert cli("new-module", "demo", "--path", str(content)).returncode == 0
    meta = content / "exercises" / "demo" / "01-first-model" / "exercise.toml"
    meta.write_text(meta.read_text(encoding="utf-8") + '\n[weights]\n"text-not-null" = 3\n', encoding="utf-8")
    archive = tmp_path / "autograder.zip"
    made = cli("--content", str(content), "export", "gradescope", "demo/01-first-model", "-o", str(archive))
    assert made.returncode == 0, made.stderr
    assert "4 points" in made.stdout
    solution = content / "exercises" / "demo" / "01-first-model" / "solution" / "models.py"
    nullable = solution.read_text(encoding="utf-8").replace("Mapped[str]", "Mapped[str | None]")
    results = autograder(tmp_path, archive, lambda into: (into / "models.py").write_text(nullable, encoding="utf-8"))
    scores = {t["name"].split(": ", 1)[1]: (t["score"], t["max_score"]) for t in results["tests"]}
    assert scores == {"there is a notes table with id and text": (1, 1), "notes.text is NOT NULL": (0, 3)}
    assert results["score"] == 1

    crashing = autograder(
        tmp_path, archive, lambda into: (into / "models.py").write_text("import nowhere_to_be_found\n", encoding="utf-8")
    )
    assert crashing["score"] == 0 and len(crashing["tests"]) == 2  # every check listed, each worth 0
    assert all("nowhere_to_be_found" in t["output"] for t in crashing["tests"])

    meta.write_text(meta.read_text(encoding="utf-8").replace('"text-not-null" = 3', '"no-such-check" = 3'), encoding="utf-8")
    refused = cli("--content", str(content), "export", "gradescope", "demo/01-first-model", "-o", str(tmp_path / "x.zip"))
    assert refused.returncode == 2 and "[weights] names no check 'no-such-check'" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and not (tmp_path / "x.zip").exists()
