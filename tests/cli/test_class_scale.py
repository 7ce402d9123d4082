"""Class grading at scale: sharded runs merged, through the real CLI against a real Postgres."""

from __future__ import annotations

import functools
import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from course.content.model import load_modules
from course.errors import CourseError
from course.grading.classgrade import parse_shard, select_shard, shard_of
from course.learner.workspace import Workspace

from conftest import course

STUDENTS = ["ada", "ben", "cleo", "dev", "eli", "fay"]


cli = functools.partial(course, timeout=300)
"""The real `course` command in a subprocess, with a class run's longer timeout."""


def make_class(root: Path) -> list[Path]:
    """Six workspaces: every other one holds the solution of 02-models, the rest its starter."""
    module = load_modules()[0]
    exercise = next(e for e in module.exercises if e.id == "02-models")
    folders = []
    for number, name in enumerate(STUDENTS):
        workspace = Workspace(root / name)
        workspace.init([module])
        workspace.close()
        if number % 2 == 0:
            shutil.copytree(exercise.solution_dir, workspace.root / "sqlalchemy-2" / "02-models", dirs_exist_ok=True)
        folders.append(workspace.root)
    return folders


def without_timings(data):
    if isinstance(data, dict):
        return {k: without_timings(v) for k, v in data.items() if k not in ("graded_at", "duration_s", "time")}
    if isinstance(data, list):
        return [without_timings(v) for v in data]
    return data


def junit_shape(path: Path):
    return [
        (element.tag, without_timings(dict(element.attrib)), (element.text or "").strip())
        for element in ET.parse(path).getroot().iter()
    ]


def test_a_shard_is_a_stable_share_of_the_students(tmp_path):
    folders = [tmp_path / f"student-{n}" for n in range(60)]
    shares = [select_shard(folders, k, 3) for k in (1, 2, 3)]
    assert sorted(p for share in shares for p in share) == sorted(folders)  # each once
    assert all(8 <= len(share) <= 32 for share in shares)
    assert select_shard(list(reversed(folders)), 2, 3) == list(reversed(shares[1]))  # order does not matter
    assert shard_of(Path("/elsewhere/student-7"), 3) == shard_of(folders[7], 3)  # nor where the folder is
    for bad in ("0/3", "4/3", "3", "a/b", "1/0", "-1/2"):
        with pytest.raises(CourseError, match="is not K/N"):
            parse_shard(bad)


def test_three_shards_merged_give_the_reports_of_one_run(tmp_path):
    folders = make_class(tmp_path / "class")
    args = [str(p) for p in folders]
    whole = cli(
        "grade",
        *args,
        "--exercise",
        "02",
        "--json",
        str(tmp_path / "whole.json"),
        "--junit",
        str(tmp_path / "whole.xml"),
        cwd=tmp_path,
    )
    assert whole.returncode == 1, whole.stderr  # half the class has the starter
    parts = []
    for k in (1, 2, 3):
        part = tmp_path / f"part{k}.jsonl"
        shuffled = args[k:] + args[:k]  # each job may list the class in its own order
        run = cli("grade", *shuffled, "--exercise", "02", "--shard", f"{k}/3", "--results", str(part), cwd=tmp_path)
        assert run.returncode in (0, 1), run.stderr
        assert f"shard {k}/3:" in run.stderr
        parts.append(part)
    graded = [json.loads(line)["student"] for part in parts for line in part.read_text(encoding="utf-8").splitlines()]
    assert sorted(graded) == STUDENTS  # every student graded once, by one shard

    merged = cli(
        "grade",
        "merge",
        *map(str, reversed(parts)),
        "-o",
        str(tmp_path / "merged.json"),
        "--junit",
        str(tmp_path / "merged.xml"),
        cwd=tmp_path,
    )
    assert merged.returncode == 1, merged.stderr
    one = json.loads((tmp_path / "whole.json").read_text(encoding="utf-8"))
    joined = json.loads((tmp_path / "merged.json").read_text(encoding="utf-8"))
    assert without_timings(joined) == without_timings(one)
    assert [s["passed"] for s in joined["students"]] == [1, 0, 1, 0, 1, 0]
    assert junit_shape(tmp_path / "merged.xml") == junit_shape(tmp_path / "whole.xml")

    # Bad input: one line, exit 2, nothing written.
    notes = tmp_path / "notes.txt"
    notes.write_text("week 3 grades\n", encoding="utf-8")
    overlap = [str(parts[0]), str(tmp_path / "whole.jsonl")]  # the unsharded run's file holds everyone
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(parts[1].read_bytes() + b'{"workspace": "/x", "stu')
    for bad, phrase in (
        ([str(notes)], "is not a `course grade` result line"),
        (overlap, "both hold"),
        ([str(parts[0]), str(parts[0])], "given twice"),
        ([str(cut)], "cut short"),
        ([str(tmp_path / "nope.jsonl")], "no results file"),
    ):
        result = cli("grade", "merge", *bad, "-o", str(tmp_path / "bad.json"), cwd=tmp_path)
        assert result.returncode == 2 and phrase in result.stderr, (bad, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and "fix:" in result.stderr
        assert not (tmp_path / "bad.json").exists()
    out_of_range = cli("grade", *args, "--shard", "4/3", cwd=tmp_path)
    assert out_of_range.returncode == 2 and "is not K/N" in out_of_range.stderr
    assert len(out_of_range.stderr.strip().splitlines()) == 1


def test_one_submission_has_the_same_points_in_every_output(tmp_path):
    """JSON, JUnit, the CSV grade sheet, the report, the summary and the Gradescope autograder
    give one submission the same points; an untouched workspace scores 0 everywhere; the same
    command run again continues its results file instead of refusing."""
    import csv
    import re

    from test_class_scale_gradescope import autograder

    module = load_modules()[0]
    models = next(e for e in module.exercises if e.id == "02-models")
    folders = []
    for name in ("amy", "status"):  # a folder named like a key of the result JSON
        workspace = Workspace(tmp_path / "class" / name)
        workspace.init([module])
        workspace.close()
        folders.append(workspace.root)
    broken = (models.solution_dir / "models.py").read_text(encoding="utf-8").replace("unique=True", "")
    (folders[0] / "sqlalchemy-2" / "02-models" / "models.py").write_text(broken, encoding="utf-8")
    args = ["grade", *map(str, folders), "--exercise", "02", "--exercise", "03"]
    outputs = ["--json", "r.json", "--junit", "r.xml", "--csv", "r.csv", "--report", "r.html"]
    graded = cli(*args, *outputs, cwd=tmp_path)
    assert graded.returncode == 1, graded.stderr
    assert "worth 0 points" in graded.stderr  # the starters' free checks

    students = {s["student"]: s for s in json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["students"]}
    amy = students["amy"]
    assert 0 < amy["points"] < amy["max_points"] and students["status"]["points"] == 0
    for result in amy["results"]:  # a result's points are its checks'
        assert result["points"] == sum(c["points"] for c in result["checks"])
    junit = {
        suite.get("name"): {p.get("name"): float(p.get("value")) for p in suite.find("properties")}
        for suite in ET.parse(tmp_path / "r.xml").getroot()
    }
    assert junit["amy"] == {"points": amy["points"], "max_points": amy["max_points"]}
    with open(tmp_path / "r.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0])[:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]  # Canvas's columns
    sheet = {row["SIS Login ID"]: row for row in rows}
    assert float(sheet["amy"]["course"]) == amy["points"] and float(sheet["status"]["course"]) == 0
    assert float(sheet["amy"]["course: 02"]) == amy["results"][0]["points"]
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    total = re.search(r"#s0'>amy</a>.*?<td class='num'>([\d.]+)/([\d.]+)</td>", page)
    assert total is not None and (float(total.group(1)), float(total.group(2))) == (amy["points"], amy["max_points"])
    assert re.search(rf"^amy\s.*\s{amy['points']:g}/{amy['max_points']:g}\s*$", graded.stdout, re.M), graded.stdout

    archive = tmp_path / "autograder.zip"
    assert cli("export", "gradescope", "02", "03", "-o", str(archive), cwd=tmp_path).returncode == 0
    uploaded = autograder(tmp_path, archive, lambda into: shutil.copytree(folders[0], into / "amy"))
    assert uploaded["score"] == amy["points"]
    assert sum(t["max_score"] for t in uploaded["tests"]) == amy["max_points"]

    again = cli(*args, "--json", "r.json", cwd=tmp_path)  # the same class again: continued, nothing graded twice
    assert again.returncode == 1, again.stderr
    assert "continuing it" in again.stderr and "4 of 4 results were already there" in again.stderr
    merged = cli("grade", "merge", str(tmp_path / "r.jsonl"), "--csv", str(tmp_path / "m.csv"), cwd=tmp_path)
    assert merged.returncode == 1, merged.stderr
    assert (tmp_path / "m.csv").read_text(encoding="utf-8") == (tmp_path / "r.csv").read_text(encoding="utf-8")

    before = (tmp_path / "r.jsonl").read_bytes()  # another class, the same results file: refused, untouched
    other = cli("grade", str(folders[0]), "--exercise", "02", "--json", "r.json", cwd=tmp_path)
    assert other.returncode == 1, other.stderr  # amy alone is part of the same class: continued
    refused = cli("grade", str(tmp_path), "--exercise", "02", "--json", "r.json", cwd=tmp_path)
    assert refused.returncode == 2 and "already holds results of an earlier run" in refused.stderr
    assert "--fresh" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert (tmp_path / "r.jsonl").read_bytes() == before
    both = cli("grade", str(folders[0]), "--resume", "--fresh", "--json", "r.json", cwd=tmp_path)
    assert both.returncode == 2 and "exclude each other" in both.stderr
    fresh = cli("grade", str(folders[1]), "--exercise", "02", "--json", "r.json", "--fresh", cwd=tmp_path)
    assert fresh.returncode == 1 and "--fresh: replaced" in fresh.stderr, fresh.stderr
    assert [json.loads(line)["student"] for line in (tmp_path / "r.jsonl").read_text(encoding="utf-8").splitlines()] == ["status"]


def test_the_summary_table_names_every_exercise_apart_and_never_cuts_a_name(monkeypatch, capsys):
    from checker.results import CheckResult, ExerciseResult
    from course.grading.classgrade import LEGEND, Submission, print_summary

    exercises = [e.full_id for e in load_modules()[0].exercises]
    long_names = ["a-student-whose-folder-name-is-rather-long-for-a-terminal-0001", "bo"]
    submissions = [
        Submission(
            Path(f"/class/{name}"),
            [ExerciseResult.combine(e, [CheckResult("c", "pass" if n % 2 else "fail")], 0.1) for n, e in enumerate(exercises)],
        )
        for name in long_names
    ]
    monkeypatch.setenv("COLUMNS", "80")
    print_summary(submissions, exercises, {e: {"c": 2.0} for e in exercises})
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 80
    lines = out.splitlines()
    at = next(n for n, line in enumerate(lines) if line.split()[:1] == ["student"])
    columns = lines[at].split()[1:-2]  # student, the exercises, passed, points
    assert len(columns) == len(set(columns)) == len(exercises) and "07-m" in columns and "07-r" in columns
    rows = lines[at + 2 : next(n for n in range(at + 2, len(lines)) if lines[n].startswith("✓ passes"))]
    assert long_names[0] in "".join(line.split()[0] for line in rows)  # wrapped, never cut
    assert " ".join(LEGEND.split()) in " ".join(out.split())  # what ✓ ✗ ! ⚠ mean
    assert "07-m = 07-migrations" in " ".join(out.split())
    assert f"{(len(exercises) // 2) * 2:g}/{len(exercises) * 2:g}" in out  # the points column


# -- the portable way: one interpreter may serve a submission's runs, so they go one after the other --


@pytest.mark.parametrize(("reuses", "grouped"), [(True, True), (False, False)])
def test_a_class_run_grades_each_submission_in_turn_where_an_interpreter_serves_its_runs(reuses, grouped):
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor
    from types import SimpleNamespace

    from course.grading.classgrade import _in_turns

    submissions = [SimpleNamespace(workspace=Path(f"/class/{name}")) for name in ("ann", "ben", "cat")]
    todo = [(submission, SimpleNamespace(full_id=f"m/{n}"), None, "d") for submission in submissions for n in range(3)]
    running: dict[str, int] = {}
    overlapped = []
    lock = threading.Lock()

    def one(submission, exercise, _folder, _digest):
        key = str(submission.workspace)
        with lock:
            running[key] = running.get(key, 0) + 1
            if running[key] > 1:
                overlapped.append(key)
        time.sleep(0.02)
        with lock:
            running[key] -= 1
        return (key, exercise.full_id)

    launcher = SimpleNamespace(reuses=reuses, in_turns=lambda: None)
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = [result for group, results in _in_turns(pool, one, todo, 2, launcher) for result in results]
    assert sorted(done) == sorted((str(s.workspace), e.full_id) for s, e, _, _ in todo)  # every pair, once
    if grouped:
        assert not overlapped, f"two runs of one submission at once: {overlapped}"
