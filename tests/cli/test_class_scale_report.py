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
