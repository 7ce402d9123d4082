"""``course export gradescope``: a Gradescope autograder (setup.sh, run_autograder) built on
class grading, and the ``run`` step that script calls inside Gradescope's container.

Gradescope unpacks the zip into ``/autograder/source``, runs ``setup.sh`` once when the image is
built, then ``run_autograder`` for each submission (found under ``/autograder/submission``); the
grade is what ``/autograder/results/results.json`` says. ``COURSE_AUTOGRADER_ROOT`` moves that
``/autograder`` root (a test runs the real script on a fake tree).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Sequence
from pathlib import Path

from course import __version__
from course.content.model import Exercise
from course.errors import CourseError
from course.grading import bundle, points

CONFIG_NAME = "course-autograder.json"
BASELINE_NAME = "starter-baseline.json"
LOCK_NAME = "requirements.txt"
FEEDBACK_NAME = "feedback.md"
VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")

INSTALL = """"$PY" -m venv /opt/course-venv
/opt/course-venv/bin/pip install --quiet --upgrade pip
{install}"""
FROM_WHEEL = """# course itself from the wheel in this zip (never by name from an index); its dependencies at the
# exact versions it was exported with.
/opt/course-venv/bin/pip install --quiet -r "$HERE/{lock}"
/opt/course-venv/bin/pip install --quiet --no-deps "$HERE/{wheel}"
/opt/course-venv/bin/pip check
"""
FROM_SPEC = """# --pip-spec given at export: installed as written.
/opt/course-venv/bin/pip install --quiet {pip_spec}
"""

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once when it builds the autograder image: course needs Python 3.11+
# (Gradescope's Ubuntu 22.04 image ships 3.10: python3.11 is installed beside it).
set -euo pipefail
HERE="$(cd "$(dirname "${{BASH_SOURCE[0]}}")" && pwd)"
apt-get update -qq
PY=""
for candidate in python3.13 python3.12 python3.11; do
  if command -v "$candidate" >/dev/null; then PY="$candidate"; break; fi
done
if [ -z "$PY" ]; then apt-get install -y -qq python3.11 >/dev/null; PY=python3.11; fi
apt-get install -y -qq "$PY-venv" >/dev/null || true
{install}"""

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


# The points model lives in course.grading.points; these names stay importable from here.
declared_checks = points.declared_checks
weights_of = points.weights_of


def visibility_of(exercise: Exercise, default: str) -> dict[str, str]:
    """When students see each check's result: ``[visibility]`` in exercise.toml (check name =
    hidden / after_due_date / after_published / visible), ``default`` for the rest. A visible
    sanity check beside hidden graded ones is Gradescope's advice."""
    meta = exercise.path / "exercise.toml"
    table = tomllib.loads(meta.read_text(encoding="utf-8")).get("visibility", {})
    names = [name for name, _ in declared_checks(exercise)]
    if not isinstance(table, dict):
        raise ExportError(
            f'{meta}: [visibility] must be a table of check name = visibility; fix: e.g. [visibility] then users-table = "visible"'
        )
    for name, value in table.items():
        if name not in names:
            raise ExportError(f"{meta}: [visibility] names no check {name!r}; fix: use one of {', '.join(sorted(names))}")
        if value not in VISIBILITIES:
            raise ExportError(
                f'{meta}: visibility of {name!r} must be one of {", ".join(VISIBILITIES)}; fix: e.g. {name} = "hidden"'
            )
    return {name: table.get(name, default) for name in names}


def config_of(exercises: list[Exercise], baseline: points.Baseline, visibility: str = "visible") -> dict:
    """What an autograder export records of each exercise: its files, and per check its title,
    declared weight, worth (0 when the starter passes it) and visibility."""
    entries = []
    for e in exercises:
        weights = weights_of(e)
        worth = points.worth_of(e, baseline.get(e.full_id, ()))
        shown = visibility_of(e, visibility)
        checks = [
            {"name": name, "title": title, "weight": weights[name], "worth": worth[name], "visibility": shown[name]}
            for name, title in declared_checks(e)
        ]
        entries.append({"id": e.full_id, "files": e.edit, "checks": checks})
    return {"course_version": __version__, "visibility": visibility, "exercises": entries}


def write_zip(output: Path, files: dict[str, tuple[str | bytes | Path, int]]) -> None:
    """A zip of ``name: (text, bytes or a file, mode)`` with fixed timestamps."""
    try:
        with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, (data, mode) in files.items():
                info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
                info.external_attr = (0o100000 | mode) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, data.read_bytes() if isinstance(data, Path) else data)
    except OSError as error:
        raise ExportError(f"cannot write {output} ({error.strerror or error}); fix: pick a writable path with -o") from None


def project_files(pip_spec: str | None) -> tuple[str, dict[str, tuple[str | bytes | Path, int]]]:
    """The install commands and the files they need: the wheel of the running version and the
    lock of its dependencies (``course.grading.bundle``), or the explicit ``--pip-spec``."""
    if pip_spec:
        return FROM_SPEC.format(pip_spec=shlex.quote(pip_spec)), {}
    wheel = bundle.wheel_name()
    return FROM_WHEEL.format(lock=LOCK_NAME, wheel=wheel), {
        wheel: (bundle.wheel_bytes(), 0o644),
        LOCK_NAME: (bundle.lock(), 0o644),
    }


def content_files(content_roots: Sequence[Path]) -> tuple[list[str], dict[str, tuple[str | bytes | Path, int]]]:
    """Content that is not in the course package, as ``content/<n>/...`` (never through a link)."""
    names: list[str] = []
    files: dict[str, tuple[str | bytes | Path, int]] = {}
    for number, root in enumerate(content_roots):
        names.append(f"content/{number}")
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.is_symlink() and "__pycache__" not in path.parts:
                files[f"content/{number}/{path.relative_to(root).as_posix()}"] = (path, 0o644)  # zip names use /
    return names, files


def build(
    exercises: list[Exercise],
    output: Path,
    *,
    baseline: points.Baseline,
    pip_spec: str | None = None,
    visibility: str = "visible",
    content_roots: Sequence[Path] = (),
) -> list[str]:
    """Write the autograder zip; returns the names it holds."""
    config = config_of(exercises, baseline, visibility)
    install, project = project_files(pip_spec)
    config["content"], content = content_files(content_roots)
    files: dict[str, tuple[str | bytes | Path, int]] = {
        "setup.sh": (SETUP_SH.format(install=INSTALL.format(install=install)), 0o755),
        "run_autograder": (RUN_AUTOGRADER.format(), 0o755),
        CONFIG_NAME: (json.dumps(config, indent=2) + "\n", 0o644),
        BASELINE_NAME: (json.dumps({e.full_id: baseline.get(e.full_id, []) for e in exercises}, indent=2) + "\n", 0o644),
        **project,
        **content,
    }
    write_zip(output, files)
    return list(files)


# Inside Gradescope's container.


def copy_upload(upload: Path, into: Path) -> list[str]:
    """Copy what the student uploaded into ``into`` without following a single link: regular
    files and folders only. A symbolic link (to the solution, to /etc/shadow...) or a special
    file (fifo, device, socket) is left out, and the returned notes say so."""
    notes: list[str] = []

    def walk(folder: Path, target: Path, prefix: str) -> None:
        target.mkdir(parents=True, exist_ok=True)
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError as error:
            notes.append(f"{prefix or '.'}: not read ({error.strerror})")
            return
        for entry in entries:
            if entry.name == "__pycache__":
                continue
            relative = prefix + entry.name
            mode = entry.stat(follow_symlinks=False).st_mode
            if stat.S_ISLNK(mode):
                notes.append(f"{relative}: a symbolic link, not followed (upload the file itself)")
            elif stat.S_ISDIR(mode):
                walk(Path(entry.path), target / entry.name, relative + "/")
            elif stat.S_ISREG(mode):
                try:
                    fd = os.open(entry.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
                except OSError as error:
                    notes.append(f"{relative}: not read ({error.strerror})")
                    continue
                with os.fdopen(fd, "rb") as source:
                    if not stat.S_ISREG(os.fstat(source.fileno()).st_mode):  # swapped under us
                        notes.append(f"{relative}: not a regular file, left out")
                        continue
                    (target / entry.name).write_bytes(source.read())
            else:
                notes.append(f"{relative}: a special file (fifo, device or socket), left out")

    walk(upload, into, "")
    return notes


def find_submission(submission: Path, exercises: list[dict], starters: dict[str, Path], into: Path) -> list[str]:
    """Lay out a workspace at ``into`` from what the student uploaded (``submission``: a copy
    made by :func:`copy_upload`, which holds no links): a whole workspace (a
    ``<module>/<exercise>/`` folder anywhere, e.g. ``course-work/sqlalchemy-2/02-models``), or
    loose files — in a folder named after the exercise, or, with one exercise, anywhere. The
    starter fills what the upload lacks. Returns notes for the student on what was found."""
    notes = []
    for entry in exercises:
        module_id, exercise_id = entry["id"].split("/", 1)
        target = into / module_id / exercise_id
        copy_upload(starters[entry["id"]], target)  # content too is copied without following links
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


def lateness(metadata: dict) -> dict:
    """What ``submission_metadata.json`` says of the timing: submitted at, due, late by. Reported
    only: the late policy is the instructor's (Gradescope applies its own), the score is not changed."""
    from datetime import datetime

    def when(text) -> datetime | None:
        try:
            return datetime.fromisoformat(str(text)) if text else None
        except ValueError:
            return None

    submitted = when(metadata.get("created_at"))
    assignment = metadata.get("assignment") or {}
    personal = [u.get("assignment") or {} for u in metadata.get("users") or [] if isinstance(u, dict)]
    due = next((when(a.get("due_date")) for a in personal if a.get("due_date")), None) or when(assignment.get("due_date"))
    late_due = next((when(a.get("late_due_date")) for a in personal if a.get("late_due_date")), None) or when(
        assignment.get("late_due_date")
    )
    info: dict = {"submitted_at": submitted.isoformat() if submitted else None, "due_date": due.isoformat() if due else None}
    if submitted and due:
        seconds = (submitted - due).total_seconds()
        info["late"] = seconds > 0
        info["late_by_seconds"] = max(0, round(seconds))
        info["after_late_due_date"] = bool(late_due and submitted > late_due)
    return info


def _duration(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [
        f"{days} d" if days else "",
        f"{hours} h" if hours else "",
        f"{minutes} min" if minutes or not (days or hours) else "",
    ]
    return " ".join(p for p in parts if p)


def results_json(config: dict, records: dict[str, dict], notes: list[str], failure: str = "", late: dict | None = None) -> dict:
    """Gradescope's results.json: a test per check, worth what the points model says (its
    weight; 0 when the starter passes it), each with its visibility; the top-level output is
    the student's feedback (:func:`feedback`)."""
    tests = []
    earned: dict[str, tuple[float, float]] = {}
    for entry in config["exercises"]:
        result = records.get(entry["id"])
        by_name = {c["name"]: c for c in (result or {}).get("checks", [])}
        stopped = next(
            (c for c in (result or {}).get("checks", []) if c["name"] not in {x["name"] for x in entry["checks"]}), None
        )
        believed = result is not None and not result.get("tampered")
        for check in entry["checks"]:
            got = by_name.get(check["name"])
            passed = believed and got is not None and got["status"] == "pass"
            worth = check.get("worth", check["weight"])
            if got is not None:
                output = _check_text(got)
            elif stopped is not None:
                output = f"Not run: {_check_text(stopped)}"
            else:
                output = f"Not graded: {failure or 'no result for this exercise'}"
            if worth == 0 and check["weight"] > 0:
                output += "\n(worth 0 points: the untouched starter already passes this check)"
            tests.append(
                {
                    "name": f"{entry['id'].split('/', 1)[1]}: {check['title']}",
                    "score": worth if passed else 0.0,
                    "max_score": worth,
                    "status": "passed" if passed else "failed",
                    "output": output,
                    "visibility": check.get("visibility", config.get("visibility", "visible")),
                }
            )
            points_so_far, most = earned.get(entry["id"], (0.0, 0.0))
            earned[entry["id"]] = (points_so_far + (worth if passed else 0.0), most + worth)
    results = {
        "score": round(sum(t["score"] for t in tests), 4),
        "output": feedback(config, earned, notes, failure, late or {}),
        "output_format": "md",
        "visibility": config.get("visibility", "visible"),
        "stdout_visibility": "hidden",
        "tests": tests,
    }
    if late:
        results["extra_data"] = {"late": late}
    return results


def feedback(config: dict, earned: dict[str, tuple[float, float]], notes: list[str], failure: str, late: dict) -> str:
    """The student's feedback (Markdown): what was graded, what was left out of the upload and
    why, the points per exercise, the timing; also written as ``results/feedback.md``."""
    lines = ["## Your submission", ""]
    lines += [f"- {note}" for note in notes]
    if failure:
        lines += ["", f"**{failure}**"]
    lines += ["", "| exercise | points |", "|---|---|"]
    for entry in config["exercises"]:
        got, most = earned.get(entry["id"], (0.0, 0.0))
        lines.append(f"| {entry['id'].split('/', 1)[1]} | {points.fmt(got)} / {points.fmt(most)} |")
    if late.get("late"):
        lines += [
            "",
            f"Submitted {_duration(late['late_by_seconds'])} after the due date "
            "(your course's late policy applies; this score is not reduced here).",
        ]
    lines += ["", "Checks your starter already passed are worth 0 points; each test below says what to fix."]
    return "\n".join(lines) + "\n"


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
    if (source / BASELINE_NAME).is_file():  # the starters were graded at export: not again per submission
        options += ["--starter-baseline", str(source / BASELINE_NAME)]
    records: dict[str, dict] = {}
    notes: list[str] = []
    failure = ""
    late: dict = {}
    try:
        late = lateness(json.loads((root / "submission_metadata.json").read_text(encoding="utf-8")))
    except (OSError, ValueError, AttributeError):
        late = {}
    with tempfile.TemporaryDirectory(prefix="course-autograder-") as temp:
        temp_dir = Path(temp)
        workspace = temp_dir / "submission"
        upload = temp_dir / "upload"
        try:
            from course.content.model import content_roots, load_content

            modules, _ = load_content(content_roots(content))
            known = {e.full_id: e for m in modules for e in m.exercises}
            missing = [e["id"] for e in config["exercises"] if e["id"] not in known]
            if missing:
                raise CourseError(f"this autograder's exercises are not in course {__version__}: {', '.join(missing)}")
            left_out = copy_upload(root / "submission", upload)
            workspace.mkdir()
            notes = find_submission(
                upload,
                config["exercises"],
                {i: known[i].starter_dir for i in (e["id"] for e in config["exercises"])},
                workspace,
            )
            notes += [f"left out: {note}" for note in left_out]
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
    graded_results = results_json(config, records, notes, failure, late)
    (results_dir / "results.json").write_text(json.dumps(graded_results, indent=2) + "\n", encoding="utf-8")
    (results_dir / FEEDBACK_NAME).write_text(graded_results["output"], encoding="utf-8")
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
