"""`course export gradescope`: the real run_autograder, on a fake /autograder tree, against a real
Postgres; its results.json validated against a schema of Gradescope's documented format."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest

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


def autograder(tmp_path: Path, archive: Path, upload, wrap=lambda command: command) -> dict:
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
        wrap([str(root / "run_autograder")]), capture_output=True, text=True, env=env, cwd=root, timeout=300, encoding="utf-8"
    )
    assert ran.returncode == 0, ran.stderr
    results = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    jsonschema.validate(results, GRADESCOPE_RESULTS)
    for test in results["tests"]:
        assert all(key in test for key in WE_WRITE), test
        assert 0 <= test["score"] <= test["max_score"]
    assert results["score"] == sum(t["score"] for t in results["tests"])
    return results


def installs_without_the_index(tmp_path: Path, archive: Path) -> None:
    """setup.sh installs course from the wheel in the zip: never `course` by name from an index.
    The wheel installs with no index at all and is the running version, content included."""
    setup = zipfile.ZipFile(archive).read("setup.sh").decode()
    assert "pip install" in setup and f"course=={__version__}" not in setup
    for line in setup.splitlines():
        if "pip install" in line and "--upgrade pip" not in line:
            assert '-r "$HERE/requirements.txt"' in line or f'--no-deps "$HERE/course-{__version__}-py3-none-any.whl"' in line, (
                line
            )
    lock = zipfile.ZipFile(archive).read("requirements.txt").decode()
    assert "sqlalchemy==" in lock and not any(line.startswith("course") for line in lock.splitlines())
    unpacked = tmp_path / "unpacked"
    zipfile.ZipFile(archive).extractall(unpacked)
    target = tmp_path / "site"
    installed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-index",
            "--no-deps",
            "--target",
            str(target),
            *unpacked.glob("course-*.whl"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        encoding="utf-8",
    )
    assert installed.returncode == 0, installed.stderr
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import course, course.locations as l; print(course.__version__, course.__file__, l.builtin_content_root())",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(target)},
        cwd=tmp_path,
        timeout=60,
        encoding="utf-8",
    )
    version, module, content = probe.stdout.split()
    assert version == __version__ and module.startswith(str(target))
    assert Path(content, "exercises", "sqlalchemy-2", "02-models", "checks.py").is_file()
    again = tmp_path / "again.whl"  # an installed (not editable) course makes the same wheel of itself
    rebuilt = subprocess.run(
        [sys.executable, "-c", f"from course.grading import bundle; open({str(again)!r}, 'wb').write(bundle.wheel_bytes())"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(target)},
        cwd=tmp_path,
        timeout=60,
        encoding="utf-8",
    )
    assert rebuilt.returncode == 0, rebuilt.stderr
    original = next(unpacked.glob("course-*.whl"))
    assert sorted(zipfile.ZipFile(again).namelist()) == sorted(zipfile.ZipFile(original).namelist())


def test_the_autograder_grades_loose_files_and_whole_workspaces(tmp_path):
    module = load_modules()[0]
    models = next(e for e in module.exercises if e.id == "02-models")
    archive = tmp_path / "autograder.zip"
    made = cli("export", "gradescope", "02", "03", "-o", str(archive))
    assert made.returncode == 0, made.stderr
    installs_without_the_index(tmp_path, archive)
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
    assert results["score"] == sum(t["max_score"] for t in by_exercise["02-models"])
    assert "course-work/sqlalchemy-2/02-models" in results["output"]
    assert results["output_format"] == "md"
    feedback = (tmp_path / "autograder" / "results" / "feedback.md").read_text(encoding="utf-8")
    assert feedback == results["output"] and "| 02-models |" in feedback

    only_models = tmp_path / "models.zip"
    assert cli("export", "gradescope", "02", "-o", str(only_models)).returncode == 0
    broken = (models.solution_dir / "models.py").read_text(encoding="utf-8").replace("unique=True", "")
    loose = autograder(tmp_path, only_models, lambda into: (into / "models.py").write_text(broken, encoding="utf-8"))
    failed = [t for t in loose["tests"] if t["status"] == "failed"]
    assert [t["name"] for t in failed] == ["02-models: users.email is UNIQUE"]
    assert "UNIQUE" in failed[0]["output"] and "SQL" not in failed[0]["name"]
    assert loose["score"] == sum(t["max_score"] for t in loose["tests"]) - 1  # equal weights by default


def test_empty_uploads_score_0_solutions_full_points_and_links_are_never_followed(tmp_path):
    """The real run_autograder: an empty upload scores 0 (the checks the starter passes are
    worth nothing); the reference solutions score full points; a link to the solution or to a
    root-only file is not followed (and the feedback says so); a fifo is left out; late
    information from submission_metadata.json is reported, not applied."""
    module = load_modules()[0]
    chosen = [e for e in module.exercises if e.id in ("02-models", "03-engine-session")]
    archive = tmp_path / "autograder.zip"
    made = cli("export", "gradescope", "02", "03", "-o", str(archive))
    assert made.returncode == 0, made.stderr
    config = json.loads(zipfile.ZipFile(archive).read("course-autograder.json"))
    free = [c["name"] for e in config["exercises"] for c in e["checks"] if c["worth"] == 0]
    assert free, "the built-in starters pass some checks: those are worth 0"

    empty = autograder(tmp_path, archive, lambda into: None)
    assert empty["score"] == 0, [(t["name"], t["score"]) for t in empty["tests"] if t["score"]]
    assert any(t["status"] == "passed" and t["max_score"] == 0 for t in empty["tests"])  # passed, worth nothing

    def solutions(into: Path):
        for exercise in chosen:
            shutil.copytree(exercise.solution_dir, into / exercise.module_id / exercise.id)

    full = autograder(tmp_path, archive, solutions)
    assert full["score"] == sum(t["max_score"] for t in full["tests"]) > 0
    assert all(t["status"] == "passed" for t in full["tests"])

    secret = tmp_path / "root-only.txt"
    secret.write_text("SECRET-FIRST-LINE\nmore\n", encoding="utf-8")
    secret.chmod(0o600)

    def linked(into: Path):
        models = chosen[0]
        folder = into / "sqlalchemy-2" / "02-models"
        folder.mkdir(parents=True)
        (folder / "models.py").symlink_to(models.solution_dir / "models.py")  # the solution, through a link
        engine = into / "sqlalchemy-2" / "03-engine-session"
        engine.mkdir(parents=True)
        (engine / "db.py").symlink_to(secret)
        (into / "solutions").symlink_to(models.solution_dir, target_is_directory=True)
        os.mkfifo(into / "pipe")

    refused = autograder(tmp_path, archive, linked)
    assert refused["score"] == 0
    everything = json.dumps(refused)
    assert "SECRET-FIRST-LINE" not in everything
    for name in (
        "sqlalchemy-2/02-models/models.py: a symbolic link, not followed",
        "solutions: a symbolic link",
        "pipe: a special file",
    ):
        assert name in refused["output"], refused["output"]

    root = tmp_path / "autograder"

    def late_upload(into: Path):
        (root / "submission_metadata.json").write_text(
            json.dumps(
                {
                    "created_at": "2026-03-02T12:30:00.000000+00:00",
                    "assignment": {"due_date": "2026-03-02T10:00:00.000000+00:00", "late_due_date": None, "title": "ORM"},
                    "users": [{"email": "s@example.com", "id": 1, "name": "S"}],
                }
            ),
            encoding="utf-8",
        )

    late = autograder(tmp_path, archive, late_upload)
    assert late["extra_data"]["late"]["late"] is True and late["extra_data"]["late"]["late_by_seconds"] == 9000
    assert "2 h 30 min after the due date" in late["output"] and late["score"] == 0


def test_weights_from_exercise_toml_and_code_that_cannot_run(tmp_path):
    content = tmp_path / "content"
    assert cli("new-module", "demo", "--path", str(content)).returncode == 0
    meta = content / "exercises" / "demo" / "01-first-model" / "exercise.toml"
    meta.write_text(
        meta.read_text(encoding="utf-8")
        + '\n[weights]\n"text-not-null" = 3\n\n[visibility]\n"text-not-null" = "after_due_date"\n',
        encoding="utf-8",
    )
    archive = tmp_path / "autograder.zip"
    made = cli(
        "--content", str(content), "export", "gradescope", "demo/01-first-model", "-o", str(archive), "--visibility", "visible"
    )
    assert made.returncode == 0, made.stderr
    checks = re.findall(r'@check\("([^"]+)", "([^"]+)"\)', (meta.parent / "checks.py").read_text(encoding="utf-8"))
    titles = dict(checks)
    assert titles["text-not-null"] == "notes.text is NOT NULL" and len(checks) >= 2
    assert f"{len(checks) - 1 + 3} points" in made.stdout  # the starter passes none of them
    solution = content / "exercises" / "demo" / "01-first-model" / "solution" / "models.py"
    nullable = solution.read_text(encoding="utf-8").replace("Mapped[str]", "Mapped[str | None]")
    results = autograder(tmp_path, archive, lambda into: (into / "models.py").write_text(nullable, encoding="utf-8"))
    scores = {t["name"].split(": ", 1)[1]: (t["score"], t["max_score"]) for t in results["tests"]}
    assert scores == {title: (0, 3) if name == "text-not-null" else (1, 1) for name, title in checks}
    assert results["score"] == len(checks) - 1
    assert {t["name"].split(": ", 1)[1]: t["visibility"] for t in results["tests"]} == {
        title: "after_due_date" if name == "text-not-null" else "visible"
        for name, title in checks  # the sanity checks
    }

    crashing = autograder(
        tmp_path, archive, lambda into: (into / "models.py").write_text("import nowhere_to_be_found\n", encoding="utf-8")
    )
    assert crashing["score"] == 0 and len(crashing["tests"]) == len(checks)  # every check listed, each worth 0
    assert all("nowhere_to_be_found" in t["output"] for t in crashing["tests"])

    meta.write_text(meta.read_text(encoding="utf-8").replace('"text-not-null" = 3', '"no-such-check" = 3'), encoding="utf-8")
    refused = cli("--content", str(content), "export", "gradescope", "demo/01-first-model", "-o", str(tmp_path / "x.zip"))
    assert refused.returncode == 2 and "[weights] names no check 'no-such-check'" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and not (tmp_path / "x.zip").exists()


DOCKER_DEFAULT_DROPS = "cap_sys_admin,cap_sys_ptrace,cap_sys_resource"
"""What Docker's default capability set lacks of root's (Gradescope's harness runs in such a container)."""


@pytest.mark.root
@pytest.mark.skipif(shutil.which("capsh") is None, reason="capsh is not installed (Debian: apt-get install libcap2-bin)")
def test_the_autograder_in_a_container_without_cap_sys_admin(tmp_path):
    """As root with Docker's default capabilities (no new namespaces): an empty upload scores 0,
    the reference solutions score full points."""
    import shlex

    module = load_modules()[0]
    chosen = [e for e in module.exercises if e.id in ("02-models", "03-engine-session")]
    archive = tmp_path / "autograder.zip"
    made = cli("export", "gradescope", "02", "03", "-o", str(archive))
    assert made.returncode == 0, made.stderr

    def in_container(command: list[str]) -> list[str]:
        return ["capsh", f"--drop={DOCKER_DEFAULT_DROPS}", "--", "-c", shlex.join(command)]

    empty = autograder(tmp_path, archive, lambda into: None, wrap=in_container)
    assert empty["score"] == 0, [(t["name"], t["score"], t.get("output", "")[:200]) for t in empty["tests"] if t["score"]]

    def solutions(into: Path):
        for exercise in chosen:
            shutil.copytree(exercise.solution_dir, into / exercise.module_id / exercise.id)

    full = autograder(tmp_path, archive, solutions, wrap=in_container)
    assert full["score"] == sum(t["max_score"] for t in full["tests"]) > 0, [
        (t["name"], t["status"], t.get("output", "")[:300]) for t in full["tests"] if t["status"] != "passed"
    ]
