"""The class report: one self-contained HTML file, looked at in a real headless browser; and
anonymised reports that name no student."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from test_class_scale import STUDENTS, cli, make_class

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(page: Path, out: Path, profile: Path) -> tuple[int, int]:
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--window-size=1200,1600",
            f"--screenshot={out}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    header = out.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def test_the_class_report_and_its_anonymised_copy(tmp_path):
    folders = make_class(tmp_path / "class")
    marker = "ADA-ONLY-7731"
    models = folders[0] / "sqlalchemy-2" / "02-models" / "models.py"
    models.write_text(
        models.read_text(encoding="utf-8") + f"\nprint({marker!r})\n", encoding="utf-8"
    )  # what ada's code prints stays ada's
    report = tmp_path / "report.html"
    graded = cli(
        "grade",
        *map(str, folders),
        "--exercise",
        "02",
        "--exercise",
        "03",
        "--json",
        str(tmp_path / "r.json"),
        "--report",
        str(report),
        cwd=tmp_path,
    )
    assert graded.returncode == 1, graded.stderr
    page = report.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*['"]?(https?:)?//""", page)  # nothing fetched when it is opened
    assert "<script" not in page and page.count("<svg") == 3
    for name in STUDENTS:
        assert name in page
    assert "Pass rate per exercise" in page and "Most common failing checks" in page
    assert "href='#s1'" in page and "id='s1'" in page  # a row links to the details

    lines = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text(encoding="utf-8").splitlines()]
    assert any(marker in json.dumps(line) for line in lines if line["student"] == "ada")
    assert not any(marker in json.dumps(line) for line in lines if line["student"] != "ada")

    env = {"COURSE_ANONYMISE_KEY": "course-test-key"}
    runs = []
    for n in (1, 2):
        out = tmp_path / f"anon{n}"
        out.mkdir()
        merged = subprocess.run(
            [
                sys.executable,
                "-m",
                "course.cli",
                "grade",
                "merge",
                str(tmp_path / "r.jsonl"),
                "--anonymise",
                "-o",
                str(out / "r.json"),
                "--junit",
                str(out / "r.xml"),
                "--report",
                str(out / "r.html"),
            ],
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            timeout=300,
            encoding="utf-8",
        )
        assert merged.returncode == 1, merged.stderr
        runs.append(out)
    for path in runs[0].iterdir():
        text = path.read_text(encoding="utf-8")
        for name in STUDENTS:
            assert not re.search(rf"\b{name}\b", text), (path.name, name)
        assert str(tmp_path) not in text
        assert text.count("student-") >= len(STUDENTS)
    first = [s["student"] for s in json.loads((runs[0] / "r.json").read_text(encoding="utf-8"))["students"]]
    again = [s["student"] for s in json.loads((runs[1] / "r.json").read_text(encoding="utf-8"))["students"]]
    assert first == again and len(set(first)) == len(STUDENTS)  # stable pseudonyms, one each

    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium): the report was not looked at in a browser")
    shot = tmp_path / "report.png"
    width, height = screenshot(report, shot, tmp_path / "profile")
    assert (width, height) == (1200, 1600)
    assert shot.stat().st_size > 30_000  # a blank page of that size is ~10 kB
    blank = tmp_path / "blank.html"
    blank.write_text("<!doctype html><title>blank</title>", encoding="utf-8")
    screenshot(blank, tmp_path / "blank.png", tmp_path / "profile2")
    assert shot.stat().st_size > 3 * (tmp_path / "blank.png").stat().st_size
    keep = os.environ.get("COURSE_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)


def synthetic_class(count: int, exercises: list[str]):
    """``count`` students' results without grading anything: every other exercise fails with a
    long message and SQL (what makes reports big), the rest pass; the last exercise untouched."""
    from checker.results import CheckResult, ExerciseResult, StatementView
    from course.grading.classgrade import Submission

    submissions = []
    for number in range(count):
        results = []
        for index, exercise in enumerate(exercises):
            checks = []
            for check in range(6):
                failing = (number + index + check) % 3 == 0
                message = ("Expected 1 statement, got 31: the loop loads each user's documents lazily. " * 8) if failing else ""
                if failing and number % 5 == 0:  # a fifth of the class fails in its own words
                    message = f"student {number}'s own failure: " + message
                statements = [
                    StatementView(f"SELECT documents.id, documents.title FROM documents WHERE {n} = %(id)s") for n in range(12)
                ]
                checks.append(
                    CheckResult(
                        f"check-{check}", "fail" if failing else "pass", message, f"Check {check}", statements if failing else []
                    )
                )
            results.append(ExerciseResult.combine(exercise, checks, 1.5 + index))
        submissions.append(Submission(Path(f"/class/student-number-{number:04d}"), results))
    return submissions


def test_a_500_student_report_stays_small_and_grows_linearly():
    from course.grading.classgrade import to_json
    from course.grading.report import render

    exercises = [f"sqlalchemy-2/{n:02d}-exercise" for n in (2, 3, 4, 5, 6, 8, 9, 10, 12, 13)]
    exercises[4:4] = ["sqlalchemy-2/07-migrations", "sqlalchemy-2/07-rename-migration"]
    exercises.append("sqlalchemy-2/11-loading")  # 13 exercises, as the built-in module
    worth = {e: {f"check-{c}": 1.0 for c in range(6)} for e in exercises}
    sizes = {}
    for count in (250, 500):
        submissions = synthetic_class(count, exercises)
        attempted = [set(exercises[:-1]) for _ in submissions]  # nobody touched 11-loading
        page = render(submissions, worth, attempted)
        sizes[count] = len(page.encode())
        merged = json.dumps(to_json(submissions, worth, attempted), separators=(",", ":"))
    # (facts as booleans: pytest would spend minutes diffing a 2 MB page in a failure message)
    assert sizes[500] < 2_000_000, sizes
    duplicated_sql = '"sql":[' in merged
    assert len(merged) < 25_000_000 and not duplicated_sql  # each statement's SQL once
    assert 1.8 < sizes[500] / sizes[250] < 2.2, sizes  # linear: the charts do not grow with the class
    assert page.count("<svg") == 3 and page.count("<script") == 0
    labels = {label: label in page for label in (">07-m<", ">07-r<", ">02<", ">07<")}
    assert labels == {">07-m<": True, ">07-r<": True, ">02<": True, ">07<": False}  # distinct labels, grade table too
    failures = page.split("<h2>Most common failing checks</h2>", 1)[1].split("</table>", 1)[0]
    assert "11-loading" not in failures and ">11<" not in failures  # not attempted: not among the failures
    assert page.count("Not attempted: 11") == 500
    zero_on_a_bar = re.search(r"<text[^>]*class=\"value[^\"]*\"[^>]*>0( %)?<", page)
    assert zero_on_a_bar is None  # no "0" printed on an empty bar
    assert re.search(r"<text[^>]*class=\"value[^\"]*\"[^>]*>\d+( %)?<", page) is not None  # the others are
    cut = [text for text in re.findall(r"<text[^>]*>([^<]*)</text>", page) if "…" in text]
    assert cut == []  # no label cut
    own_words = page.count("own failure")
    assert 0 < own_words <= 100 * 13 * 2  # a student's own message is in their details; the common one is not repeated


def test_anonymise_never_crashes_and_scrubs_what_a_student_controls():
    from checker.results import CheckResult, ExerciseResult
    from course.grading.classgrade import Submission, to_json
    from course.grading.report import anonymise, render

    submissions = []
    for name in ("status", "checks", "name", "message", "pass", "Ann"):
        said = f"cannot open /class/{name}/models.py; hello {name.upper()} aka {name[::-1]}"
        check = CheckResult("users-table", "fail", said, "users table")
        passing = CheckResult("style", "pass", "", "style")
        submissions.append(
            Submission(Path(f"/class/{name}"), [ExerciseResult.combine("sqlalchemy-2/02-models", [check, passing], 1.0)])
        )
    hidden = anonymise(submissions, key=b"test-key")
    for original, copy in zip(submissions, hidden, strict=True):
        result = copy.results[0]
        assert [c.status for c in result.checks] == ["fail", "pass"] and [c.name for c in result.checks] == [
            "users-table",
            "style",
        ]
        message = result.checks[0].message
        for form in (original.name, original.name.upper(), original.name[::-1], str(original.workspace)):
            assert form.lower() not in message.lower(), (form, message)
        assert copy.name in message and copy.name.startswith("student-")
    render(hidden)
    json.dumps(to_json(hidden))
