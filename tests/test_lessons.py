"""Every ```python block of every lesson runs against a real Postgres.

Convention (docs/authoring.md): a lesson's blocks run in order in one namespace, in an empty
folder on sys.path, with DATABASE_URL set to a fresh database; a block whose first line is
``# file: name.py`` is written to that file instead of run; ```python norun blocks are skipped.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from course.locations import builtin_content_root

FENCE = re.compile(r"^```(\S*)([^\n]*)\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
LESSONS = sorted((builtin_content_root() / "lessons").glob("*/*.md"))

RUNNER = r"""
import json, os, sys
blocks = json.loads(sys.stdin.read())
os.chdir(sys.argv[1]); sys.path.insert(0, sys.argv[1])
namespace = {"__name__": "__lesson__"}
for number, (kind, code) in enumerate(blocks, 1):
    if kind == "file":
        name, body = code
        with open(name, "w") as handle:
            handle.write(body)
        continue
    try:
        exec(compile(code, f"<block {number}>", "exec"), namespace)
    except BaseException as error:
        print(f"block {number} failed: {type(error).__name__}: {error}\n---\n{code}", file=sys.stderr)
        sys.exit(1)
"""


def python_blocks(text: str) -> list:
    blocks = []
    for language, options, code in FENCE.findall(text):
        if language != "python" or "norun" in options:
            continue
        first = code.splitlines()[0] if code.strip() else ""
        match = re.match(r"#\s*file:\s*(\S+\.py)", first)
        blocks.append(("file", [match.group(1), code]) if match else ("code", code))
    return blocks


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_code_runs(lesson, databases, tmp_path):
    blocks = python_blocks(lesson.read_text())
    if not blocks:
        return
    database = databases.create_database()
    try:
        url = databases.learner_params(database).sqlalchemy_url()
        result = subprocess.run(
            [sys.executable, "-c", RUNNER, str(tmp_path)],
            input=json.dumps(blocks), capture_output=True, text=True, timeout=120,
            env={"DATABASE_URL": url, "PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"},
        )
    finally:
        databases.drop_database(database)
    assert result.returncode == 0, f"{lesson.name}: {result.stderr[-3000:]}"


def test_lessons_never_paste_a_database_url_into_code():
    for lesson in LESSONS:
        for _kind, code in python_blocks(lesson.read_text()):
            body = code[1] if isinstance(code, list) else code
            assert "create_engine(\"postgresql" not in body and "create_engine('postgresql" not in body, lesson
