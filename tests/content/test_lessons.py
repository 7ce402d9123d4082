"""Every ```python block of every lesson runs against a real Postgres (see course.content.lessoncode)."""

from __future__ import annotations

import re

import pytest

from course.content.lessoncode import FILE_FROM, python_blocks, run_lesson
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
        for kind, _line, body in python_blocks(lesson.read_text(encoding="utf-8")):
            code = body[1] if kind == "file" else body
            assert 'create_engine("postgresql' not in code and "create_engine('postgresql" not in code, lesson


def test_a_lesson_can_load_a_file_it_does_not_repeat(tmp_path):
    (tmp_path / "exercises").mkdir()
    (tmp_path / "exercises" / "models.py").write_text("A = 1\n", encoding="utf-8")
    text = "x\n```python\nprint(1)\n```\n<!-- file: models.py = exercises/models.py -->\n```python\nimport models\n```\n"
    blocks = python_blocks(text, tmp_path)
    assert [kind for kind, _, _ in blocks] == ["code", "file", "code"]
    assert blocks[1] == ("file", 5, ["models.py", "A = 1\n"])
    missing = python_blocks("<!-- file: models.py = exercises/nope.py -->\n", tmp_path)
    assert missing[0][0] == "code" and "FileNotFoundError" in missing[0][2]


def _code_lines(code: str) -> list[str]:
    lines = []
    for line in code.splitlines():
        line = line.split("  #")[0].strip()
        if line and not line.startswith("#") and line != "...":
            lines.append(line)
    return lines


def test_lessons_show_what_changes_in_models_py_and_run_the_whole_file():
    root = builtin_content_root()
    for lesson in LESSONS:
        text = lesson.read_text(encoding="utf-8")
        assert "# file: models.py" not in text, f"{lesson.name} pastes models.py whole"
        for snippet in re.finditer(r"```python norun\n(# models\.py: what changes.*?)```\n(<!--.*?-->)", text, re.S):
            loaded = FILE_FROM.match(snippet.group(2))
            assert loaded and loaded.group(1) == "models.py", lesson.name
            whole = set(_code_lines((root / loaded.group(2)).read_text(encoding="utf-8")))
            assert set(_code_lines(snippet.group(1))) <= whole, lesson.name


def test_lesson_2_teaches_with_other_tables_than_exercise_02_asks_for():
    text = (builtin_content_root() / "lessons" / "sqlalchemy-2" / "02-models.md").read_text(encoding="utf-8")
    code = "".join(body[1] if kind == "file" else body for kind, _, body in python_blocks(text))
    assert "class User(" not in code and "class Document(" not in code
    assert '__tablename__ = "users"' not in code and '__tablename__ = "documents"' not in code


# -- transfer: the exercise asks for the lesson's concept on other tables --------------------------

TRANSFER = ["09-many-to-many", "10-cascades", "12-pooling", "13-hybrid"]
API_SPELLING = {
    # the library's own spelling, which any example of the concept has to show
    "Base.metadata",
    "@classmethod",
    "@hybrid_property",
    'cascade="all,delete-orphan"',
    "passive_deletes=True",
    "pool_pre_ping=True",
    "engine=create_engine(",
    'os.environ["DATABASE_URL"]',
}


def _normalised(code: str) -> set[str]:
    """Code lines without comments, spaces or a trailing comma; imports, docstrings and short
    punctuation lines left out (they carry no decision)."""
    lines = set()
    for raw in code.splitlines():
        line = re.sub(r"\s+", "", raw.split("  #")[0].split(" # ")[0]).rstrip(",")
        if line.startswith("#") or len(line) < 8 or line.startswith(("from", "import", '"""', "'''")):
            continue
        lines.add(line)
    return lines


def _must_write(exercise) -> set[str]:
    """The lines of the solution the starter lacks: what the learner has to write."""
    lines: set[str] = set()
    for solution in (exercise.path / "solution").rglob("*.py"):
        starter = exercise.path / "starter" / solution.relative_to(exercise.path / "solution")
        given = _normalised(starter.read_text(encoding="utf-8")) if starter.is_file() else set()
        lines |= _normalised(solution.read_text(encoding="utf-8")) - given
    return lines - API_SPELLING


def _lesson_code(lesson) -> str:
    """Every ```python block of the lesson, runnable or not, as the learner reads it."""
    return "\n".join(re.findall(r"```python[^\n]*\n(.*?)```", lesson.read_text(encoding="utf-8"), re.S))


@pytest.mark.parametrize("exercise_id", TRANSFER)
def test_a_transfer_exercise_cannot_be_solved_by_copying_lesson_lines(exercise_id, exercises):
    exercise = exercises[exercise_id]
    lesson = builtin_content_root() / "lessons" / exercise.module_id / f"{exercise.section}.md"
    must_write = _must_write(exercise)
    assert must_write, exercise_id
    copied = sorted(must_write & _normalised(_lesson_code(lesson)))
    assert copied == [], f"{lesson.name} holds lines the learner must write in {exercise_id}: {copied}"


def test_no_lesson_loads_a_solution_file():
    for lesson in LESSONS:
        for match in FILE_FROM.finditer(lesson.read_text(encoding="utf-8")):
            assert "/solution/" not in match.group(2), f"{lesson.name} loads {match.group(2)}"
