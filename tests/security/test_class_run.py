"""A class run survives any submission (issue 12, item 5): `course grade` killed mid-run is
continued with `--resume` without grading again what it finished, and one submission that kills
the processes above it does not keep the others from being graded and reported."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from course.content.model import load_modules
from course.learner.workspace import Workspace

EXERCISES = ("02-models", "03-engine-session")

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="the attacks below find their parents in /proc")


def grade_command(*args) -> list[str]:
    return [sys.executable, "-m", "course.cli", "grade", *args]


def class_of(tmp_path: Path, plan: dict[str, dict[str, str]]) -> list[Path]:
    """One workspace per student: {student: {exercise id: "solution" | "starter" | source of models.py}}."""
    module = load_modules()[0]
    by_id = {e.id: e for e in module.exercises}
    roots = []
    for student, work in plan.items():
        workspace = Workspace(tmp_path / "class" / student)
        workspace.init([module])
        workspace.close()
        for exercise_id, what in work.items():
            exercise = by_id[exercise_id]
            folder = workspace.root / exercise.module_id / exercise.id
            if what == "solution":
                shutil.copytree(exercise.solution_dir, folder, dirs_exist_ok=True)
            elif what != "starter":
                shutil.copytree(exercise.solution_dir, folder, dirs_exist_ok=True)
                (folder / "models.py").write_text(
                    what + (exercise.solution_dir / "models.py").read_text(encoding="utf-8"), encoding="utf-8"
                )
        roots.append(workspace.root)
    return roots


def lines_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def pairs_of(records: list[dict]) -> list[tuple[str, str]]:
    return [(r["student"], r["exercise"].split("/")[1]) for r in records]


def errors_of(report: dict) -> list[tuple[str, str, str, str]]:
    """(student, exercise, check, message) of every check in error: what a failure shows."""
    return [
        (s["student"], r["exercise"], c["name"], c["message"][:300])
        for s in report["students"]
        for r in s["results"]
        for c in r["checks"]
        if c["status"] == "error"
    ]


def without_timings(report):
    """A JSON report as it must be in every run of the same submissions: timings and dates out."""
    if isinstance(report, dict):
        return {k: without_timings(v) for k, v in report.items() if k not in ("duration_s", "graded_at")}
    if isinstance(report, list):
        return [without_timings(v) for v in report]
    return report


def junit_without_timings(path: Path) -> str:
    root = ET.parse(path).getroot()
    for element in root.iter():
        element.attrib.pop("time", None)
    return ET.tostring(root, encoding="unicode")


# The third student's 02-models waits at import until the test opens a gate, a file the test
# puts in that exercise folder (at most 15 s): killed while the results file holds the first two
# students' lines, the run is reliably in the middle of that submission. (Only the exercise
# folder is used: the learner's process may see nothing else of the machine.)
GATE = """import os as _os, time as _time
_gate = _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "gate")
_until = _time.monotonic() + 15
while not _os.path.exists(_gate) and _time.monotonic() < _until:
    _time.sleep(0.05)
"""


def wait_for_lines(path: Path, count: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"the run never wrote {count} results: {process.communicate(timeout=60)}")


def test_a_killed_run_is_resumed_without_grading_again_what_it_finished(tmp_path):
    plan = {
        "ann": {"02-models": "solution", "03-engine-session": "solution"},
        "ben": {"02-models": "solution", "03-engine-session": "starter"},
        "cat": {"02-models": GATE, "03-engine-session": "solution"},
        "dan": {"02-models": "starter", "03-engine-session": "starter"},
    }
    students = [str(p) for p in class_of(tmp_path, plan)]
    gate = tmp_path / "class" / "cat" / "sqlalchemy-2" / "02-models" / "gate"
    results, report, junit = tmp_path / "out" / "run.jsonl", tmp_path / "out" / "report.json", tmp_path / "out" / "report.xml"
    results.parent.mkdir()
    options = [
        "--exercise",
        "02",
        "--exercise",
        "03",
        "--jobs",
        "1",
        "--results",
        str(results),
        "--json",
        str(report),
        "--junit",
        str(junit),
    ]

    first = subprocess.Popen(grade_command(*students, *options), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for_lines(results, 4, first)  # ann's and ben's: the run now waits in cat's 02-models
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=60)
        gate.touch()  # the orphaned learner process may finish (its database is gone with the server)
    assert first.returncode == -signal.SIGKILL
    assert not report.exists() and not junit.exists()
    assert oct(results.stat().st_mode & 0o777) == "0o600"
    before = results.read_bytes()
    assert pairs_of(lines_of(results)) == [
        ("ann", "02-models"),
        ("ann", "03-engine-session"),
        ("ben", "02-models"),
        ("ben", "03-engine-session"),
    ]

    # killed in the middle of writing its fourth line: that one does not count and is graded again
    kept = before.rindex(b"\n", 0, len(before) - 1) + 1
    results.write_bytes(before[: kept + 40])

    resumed = subprocess.run(
        grade_command(*students, *options, "--resume"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        encoding="utf-8",
    )
    assert resumed.returncode == 1, resumed.stdout + resumed.stderr  # some submissions fail their checks
    assert "3 of 8 results were already there" in resumed.stderr
    after = results.read_bytes()
    assert after.startswith(before[:kept]), "the lines of finished submissions were rewritten"
    records = lines_of(results)
    assert sorted(pairs_of(records)) == sorted((s, e) for s in plan for e in EXERCISES), "every pair graded exactly once"
    assert pairs_of(records)[3:5] == [("ben", "03-engine-session"), ("cat", "02-models")]

    data = json.loads(report.read_text(encoding="utf-8"))
    assert [s["student"] for s in data["students"]] == list(plan)
    statuses = {s["student"]: [r["status"] for r in s["results"]] for s in data["students"]}
    assert statuses == {"ann": ["pass", "pass"], "ben": ["pass", "fail"], "cat": ["pass", "pass"], "dan": ["fail", "fail"]}, (
        errors_of(data)
    )
    for student in ("ann", "ben", "cat", "dan"):
        assert f"{student} " in resumed.stdout

    # the same reports as a run that was never interrupted (timings aside)
    fresh_results, fresh_report, fresh_junit = tmp_path / "fresh.jsonl", tmp_path / "fresh.json", tmp_path / "fresh.xml"
    fresh = subprocess.run(
        grade_command(
            *students,
            "--exercise",
            "02",
            "--exercise",
            "03",
            "--jobs",
            "2",
            "--results",
            str(fresh_results),
            "--json",
            str(fresh_report),
            "--junit",
            str(fresh_junit),
        ),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        encoding="utf-8",
    )
    assert fresh.returncode == 1, fresh.stdout + fresh.stderr
    assert without_timings(json.loads(fresh_report.read_text(encoding="utf-8"))) == without_timings(data), errors_of(
        json.loads(fresh_report.read_text(encoding="utf-8"))
    )
    assert junit_without_timings(fresh_junit) == junit_without_timings(junit)
    assert fresh.stdout == resumed.stdout  # the summary table


# Kills the process that started it (the brief's attack), every process above it, or every
# process of the run it can find, or stops (SIGSTOP) every process above it: each only while it
# descends from this test (so that the test can never take down what runs it).
KILLER = """import os as _os, signal as _signal


def _parent(pid):
    with open(f"/proc/{{pid}}/stat") as handle:
        return int(handle.read().rsplit(")", 1)[1].split()[1])


def _above(pid):
    chain = []
    while pid > 1 and pid != {test}:
        chain.append(pid)
        try:
            pid = _parent(pid)
        except (OSError, ValueError, IndexError):
            return []
    return chain if pid == {test} else []


if {mode!r} == "every-process":
    _victims = [int(p) for p in _os.listdir("/proc") if p.isdigit() and int(p) != _os.getpid() and _above(int(p))]
else:
    _victims = _above(_os.getppid())[: 1 if {mode!r} == "parent" else None]
for _victim in _victims:
    try:
        _os.kill(_victim, _signal.SIGSTOP if {mode!r}.startswith("stop") else _signal.SIGKILL)
    except OSError:
        pass
"""


def stopped_descendants() -> list[int]:
    """Processes under this test that are stopped (what a SIGSTOP attack that worked leaves)."""
    parents, states = {}, {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()
            except OSError:
                continue
            states[int(entry)], parents[int(entry)] = fields[0], int(fields[1])
    found = []
    for pid, state in states.items():
        above = parents.get(pid)
        while above and above != os.getpid():
            above = parents.get(above)
        if above == os.getpid() and state == "T":
            found.append(pid)
    return found


@pytest.mark.parametrize("mode", ["parent", "every-ancestor", "every-process", "stop-every-ancestor"])
def test_a_submission_that_kills_its_parents_does_not_stop_the_class_run(tmp_path, mode):
    killer = KILLER.format(test=os.getpid(), mode=mode)
    plan = {
        "ann": {"02-models": "solution", "03-engine-session": "solution"},
        "mal": {"02-models": killer, "03-engine-session": "solution"},
        "zed": {"02-models": "solution", "03-engine-session": "starter"},
    }
    students = [str(p) for p in class_of(tmp_path, plan)]
    report, junit = tmp_path / "report.json", tmp_path / "report.xml"
    run = subprocess.Popen(  # one at a time: the attack then meets no other student's run
        grade_command(
            *students, "--exercise", "02", "--exercise", "03", "--jobs", "1", "--json", str(report), "--junit", str(junit)
        ),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    try:
        out, err = run.communicate(timeout=120)
    finally:
        for pid in stopped_descendants():  # a frozen run is not left behind (before its parents go)
            os.kill(pid, signal.SIGKILL)
        run.kill()
        run.wait()
    assert run.returncode == 1, f"exit {run.returncode}: {out}{err}"  # zed's 03 fails; nothing else may
    data = json.loads(report.read_text(encoding="utf-8"))
    statuses = {s["student"]: [r["status"] for r in s["results"]] for s in data["students"]}
    assert list(statuses) == ["ann", "mal", "zed"]
    assert statuses["ann"] == ["pass", "pass"] and statuses["zed"] == ["pass", "fail"], (statuses, errors_of(data))
    assert len(statuses["mal"]) == 2
    assert statuses["mal"][1] == "pass", errors_of(data)  # mal's other exercise is graded as usual
    suites = ET.parse(junit).getroot().findall("testsuite")
    assert [s.get("name") for s in suites] == ["ann", "mal", "zed"]
    assert len(lines_of(tmp_path / "report.jsonl")) == 6
    for student in ("ann", "mal", "zed"):
        assert f"{student} " in out


def test_ctrl_c_ends_a_class_run_at_once_and_keeps_only_finished_results(tmp_path):
    plan = {
        "ann": {"02-models": "solution"},
        "cat": {"02-models": GATE},  # the gate is never opened
        "dan": {"02-models": "solution"},
    }
    students = [str(p) for p in class_of(tmp_path, plan)]
    results = tmp_path / "run.jsonl"
    run = subprocess.Popen(
        grade_command(*students, "--exercise", "02", "--jobs", "1", "--results", str(results)),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    try:
        wait_for_lines(results, 1, run)  # ann's: the run now waits in cat's 02-models
        time.sleep(0.5)
        interrupted = time.monotonic()
        run.send_signal(signal.SIGINT)
        _, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 130, err
    assert time.monotonic() - interrupted < 10, "the run waited for the blocked submission"
    assert "--resume" in err and str(results) in err and "Traceback" not in err
    assert pairs_of(lines_of(results)) == [("ann", "02-models")]  # the cut-short run left no line
