"""``course export gradescope``: a Gradescope autograder (setup.sh, run_autograder) built on
class grading, and the ``run`` step that script calls inside Gradescope's container.

Gradescope unpacks the zip into ``/autograder/source``, runs ``setup.sh`` once when the image is
built, then ``run_autograder`` for each submission (found under ``/autograder/submission``); the
grade is what ``/autograder/results/results.json`` says. ``COURSE_AUTOGRADER_ROOT`` moves that
``/autograder`` root (a test runs the real script on a fake tree).
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import cast

from course import __version__
from course.content.model import Exercise
from course.errors import CourseError

CONFIG_NAME = "course-autograder.json"
VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once when it builds the autograder image: course needs Python 3.11+
# (Gradescope's Ubuntu 22.04 image ships 3.10: python3.11 is installed beside it).
set -euo pipefail
apt-get update -qq
PY=""
for candidate in python3.13 python3.12 python3.11; do
  if command -v "$candidate" >/dev/null; then PY="$candidate"; break; fi
done
if [ -z "$PY" ]; then apt-get install -y -qq python3.11 >/dev/null; PY=python3.11; fi
apt-get install -y -qq "$PY-venv" >/dev/null || true
"$PY" -m venv /opt/course-venv
/opt/course-venv/bin/pip install --quiet --upgrade pip
/opt/course-venv/bin/pip install --quiet {pip_spec}
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for each submission: grade it as `course grade` does and write
# $ROOT/results/results.json. COURSE_AUTOGRADER_ROOT replaces /autograder (for a dry run).
set -uo pipefail
ROOT="${{COURSE_AUTOGRADER_ROOT:-/autograder}}"
PYTHON="${{COURSE_AUTOGRADER_PYTHON:-/opt/course-venv/bin/python}}"
exec "$PYTHON" -m course.grading.gradescope run --root "$ROOT"
"""


class ExportError(CourseError):
    """An export that cannot be built (bad weights, an unwritable output)."""


def declared_checks(exercise: Exercise) -> list[tuple[str, str]]:
    """The (name, title) of every ``@check("name", "title")`` in the exercise's checks.py, in
    order: the tests an autograder lists even when the code could not run at all."""
    tree = ast.parse(exercise.checks_file.read_text(encoding="utf-8"), str(exercise.checks_file))
    found: list[tuple[str, str]] = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            if (
                isinstance(decorator, ast.Call)
                and getattr(decorator.func, "id", None) == "check"
                and decorator.args
                and isinstance(decorator.args[0], ast.Constant)
            ):
                name = decorator.args[0].value
                title = decorator.args[1].value if len(decorator.args) > 1 and isinstance(decorator.args[1], ast.Constant) else ""
                # check(name: str, title: str = ""): the literals are strings in a checks.py that follows it
                found.append((cast(str, name), cast(str, title or name)))
    return found


def weights_of(exercise: Exercise) -> dict[str, float]:
    """Points per check: ``[weights]`` in exercise.toml (check name = points); 1 for the rest."""
    meta = exercise.path / "exercise.toml"
    table = tomllib.loads(meta.read_text(encoding="utf-8")).get("weights", {})
    checks = declared_checks(exercise)
    names = {name for name, _ in checks}
    if not isinstance(table, dict):
        raise ExportError(f"{meta}: [weights] must be a table of check name = points; fix: e.g. [weights] then email-unique = 2")
    for name, value in table.items():
        if name not in names:
            raise ExportError(f"{meta}: [weights] names no check {name!r}; fix: use one of {', '.join(sorted(names))}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ExportError(f"{meta}: weight of {name!r} must be a number >= 0; fix: e.g. {name} = 2")
    return {name: float(table.get(name, 1)) for name, _ in checks}


def build(
    exercises: list[Exercise],
    output: Path,
    *,
    pip_spec: str | None = None,
    visibility: str = "visible",
    content_roots: Sequence[Path] = (),
) -> list[str]:
    """Write the autograder zip; returns the names it holds."""
    pip_spec = pip_spec or f"course=={__version__}"
    content: list[str] = []
    config = {
        "course_version": __version__,
        "visibility": visibility,
        "exercises": [
            {
                "id": e.full_id,
                "files": e.edit,
                "checks": [{"name": name, "title": title, "weight": weights_of(e)[name]} for name, title in declared_checks(e)],
            }
            for e in exercises
        ],
        "content": content,
    }
    files: dict[str, str | Path] = {}
    for number, root in enumerate(content_roots):  # content that is not in the course package
        content.append(f"content/{number}")
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                files[f"content/{number}/{path.relative_to(root).as_posix()}"] = path  # zip names use /
    try:
        with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, text, mode in (
                ("setup.sh", SETUP_SH.format(pip_spec=_shell_quote(pip_spec)), 0o755),
                ("run_autograder", RUN_AUTOGRADER.format(), 0o755),
                (CONFIG_NAME, json.dumps(config, indent=2) + "\n", 0o644),
            ):
                info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
                info.external_attr = (0o100000 | mode) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, text)
            for name, origin in files.items():
                archive.write(origin, name)
    except OSError as error:
        raise ExportError(f"cannot write {output} ({error.strerror or error}); fix: pick a writable path with -o") from None
    return ["setup.sh", "run_autograder", CONFIG_NAME, *files]


def _shell_quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


# Inside Gradescope's container.


def find_submission(submission: Path, exercises: list[dict], starters: dict[str, Path], into: Path) -> list[str]:
    """Lay out a workspace at ``into`` from what the student uploaded: a whole workspace (a
    ``<module>/<exercise>/`` folder anywhere, e.g. ``course-work/sqlalchemy-2/02-models``), or
    loose files — in a folder named after the exercise, or, with one exercise, anywhere. The
    starter fills what the upload lacks. Returns notes for the student on what was found."""
    notes = []
    for entry in exercises:
        module_id, exercise_id = entry["id"].split("/", 1)
        target = into / module_id / exercise_id
        shutil.copytree(starters[entry["id"]], target, dirs_exist_ok=True)
        folders = sorted(
            (p for p in submission.rglob(exercise_id) if p.is_dir() and "__MACOSX" not in p.parts),
            key=lambda p: (p.parent.name != module_id, len(p.parts)),
        )
        if folders:
            shutil.copytree(folders[0], target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
            notes.append(f"{entry['id']}: graded {folders[0].relative_to(submission)}/")
            continue
        loose = []
        for name in entry["files"]:
            candidates = sorted((p for p in submission.rglob(Path(name).name) if p.is_file()), key=lambda p: len(p.parts))
            if candidates and len(exercises) == 1:
                shutil.copy2(candidates[0], target / name)
                loose.append(str(candidates[0].relative_to(submission)))
        notes.append(f"{entry['id']}: graded " + (", ".join(loose) if loose else "nothing uploaded (the starter files)"))
    return notes


def results_json(config: dict, records: dict[str, dict], notes: list[str], failure: str = "") -> dict:
    """Gradescope's results.json: a test per check, each worth its weight."""
    tests = []
    for entry in config["exercises"]:
        result = records.get(entry["id"])
        by_name = {c["name"]: c for c in (result or {}).get("checks", [])}
        stopped = next(
            (c for c in (result or {}).get("checks", []) if c["name"] not in {x["name"] for x in entry["checks"]}), None
        )
        for check in entry["checks"]:
            got = by_name.get(check["name"])
            passed = got is not None and got["status"] == "pass"
            if got is not None:
                output = _check_text(got)
            elif stopped is not None:
                output = f"Not run: {_check_text(stopped)}"
            else:
                output = f"Not graded: {failure or 'no result for this exercise'}"
            tests.append(
                {
                    "name": f"{entry['id'].split('/', 1)[1]}: {check['title']}",
                    "score": check["weight"] if passed else 0.0,
                    "max_score": check["weight"],
                    "status": "passed" if passed else "failed",
                    "output": output,
                    "visibility": config.get("visibility", "visible"),
                }
            )
    return {
        "score": round(sum(t["score"] for t in tests), 4),
        "output": "\n".join([*notes, *([failure] if failure else [])]),
        "visibility": config.get("visibility", "visible"),
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def _check_text(check: dict) -> str:
    lines = [f"[{check['status']}] {check.get('title') or check['name']}"]
    if check.get("message"):
        lines.append(check["message"])
    statements = check.get("statements") or [{"sql": sql} for sql in check.get("sql", [])]
    if statements:
        lines.append("SQL your code sent:")
        for number, statement in enumerate(statements, 1):
            repeat = f"  (x{statement['count']})" if statement.get("count", 1) > 1 else ""
            where = f"  -- {statement['location']}" if statement.get("location") else ""
            note = f"  <- {statement['note']}" if statement.get("note") else ""
            lines.append(f"{number:>3}. {statement['sql']}{repeat}{where}{note}")
    return "\n".join(lines)


def run(root: Path) -> int:
    """Grade ``root/submission`` and write ``root/results/results.json`` (always: a failure to
    grade is a 0 with the reason, which the student and the instructor both see)."""
    source = root / "source"
    config = json.loads((source / CONFIG_NAME).read_text(encoding="utf-8"))
    results_dir = root / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    content = [str(source / c) for c in config.get("content", [])]
    options = [arg for c in content for arg in ("--content", c)]
    records: dict[str, dict] = {}
    notes: list[str] = []
    failure = ""
    with tempfile.TemporaryDirectory(prefix="course-autograder-") as temp:
        temp_dir = Path(temp)
        workspace = temp_dir / "submission"
        try:
            from course.content.model import content_roots, load_content

            modules, _ = load_content(content_roots(content))
            known = {e.full_id: e for m in modules for e in m.exercises}
            missing = [e["id"] for e in config["exercises"] if e["id"] not in known]
            if missing:
                raise CourseError(f"this autograder's exercises are not in course {__version__}: {', '.join(missing)}")
            workspace.mkdir()
            notes = find_submission(
                root / "submission",
                config["exercises"],
                {i: known[i].starter_dir for i in (e["id"] for e in config["exercises"])},
                workspace,
            )
            results = temp_dir / "results.jsonl"
            graded = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "course.cli",
                    "grade",
                    str(workspace),
                    "--results",
                    str(results),
                    "--jobs",
                    "1",
                    *[arg for e in config["exercises"] for arg in ("--exercise", e["id"])],
                    *options,
                ],
                capture_output=True,
                text=True,
                cwd=temp_dir,
                encoding="utf-8",
            )
            if graded.returncode not in (0, 1):
                failure = "grading did not run: " + (graded.stderr.strip().splitlines() or ["no reason given"])[-1]
            else:
                for line in results.read_text(encoding="utf-8").splitlines():
                    record = json.loads(line)
                    records[record["exercise"]] = record["result"]
        except (CourseError, OSError) as error:
            failure = f"grading did not run: {error}"
    (results_dir / "results.json").write_text(
        json.dumps(results_json(config, records, notes, failure), indent=2) + "\n", encoding="utf-8"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m course.grading.gradescope")
    commands = parser.add_subparsers(dest="command", required=True)
    step = commands.add_parser("run", help="grade /autograder/submission into /autograder/results/results.json")
    step.add_argument("--root", type=Path, default=Path(os.environ.get("COURSE_AUTOGRADER_ROOT", "/autograder")))
    args = parser.parse_args(argv)
    return run(args.root)


if __name__ == "__main__":
    sys.exit(main())
