"""Every ```python block of every lesson runs against a real Postgres (see course.lessoncode)."""

from __future__ import annotations

import pytest

from course.lessoncode import python_blocks, run_lesson
from course.locations import builtin_content_root

LESSONS = sorted((builtin_content_root() / "lessons").glob("*/*.md"))


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_code_runs(lesson, databases):
    database = databases.create_database()
    try:
        failure = run_lesson(lesson, databases.learner_params(database).sqlalchemy_url())
    finally:
        databases.drop_database(database)
    assert failure is None, f"{lesson.name}:{failure[0]}: {failure[1]}"


def test_block_extraction_follows_the_convention():
    text = "x\n```python\n# file: models.py\nA = 1\n```\n```python norun\nboom()\n```\n```python\nimport models\n```\n"
    blocks = python_blocks(text)
    assert [kind for kind, _, _ in blocks] == ["file", "code"]
    assert blocks[0][2] == ["models.py", "# file: models.py\nA = 1\n"]
    assert blocks[1][1] == 10


def test_lessons_never_paste_a_database_url_into_code():
    for lesson in LESSONS:
        for kind, _line, body in python_blocks(lesson.read_text()):
            code = body[1] if kind == "file" else body
            assert "create_engine(\"postgresql" not in code and "create_engine('postgresql" not in code, lesson
