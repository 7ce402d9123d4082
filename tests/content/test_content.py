"""Content loading, exercise ids, the progress store."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from course.content.model import ContentError, ExerciseNotFound, Section, find_exercise, load_module
from course.learner.progress import SCHEMA_VERSION, Progress, ProgressError


def test_the_module_has_all_fourteen_sections_with_lessons(modules):
    (module,) = [m for m in modules if m.id == "sqlalchemy-2"]
    assert [s.number for s in module.sections] == list(range(1, 15))
    assert module.sections[0].id == "01-what-is-an-orm" and module.sections[-1].id == "14-check-yourself"
    for section in module.sections[:5]:
        assert section.lesson.is_file(), section.lesson


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("sqlalchemy-2/05-relationships", "05-relationships"),
        ("05-relationships", "05-relationships"),
        ("05", "05-relationships"),
        ("relationships", "05-relationships"),
        ("crud", "04-crud"),
    ],
)
def test_short_ids_resolve(modules, query, expected):
    assert find_exercise(modules, query).id == expected


def test_quiz_only_sections_resolve_to_the_section(modules):
    assert isinstance(find_exercise(modules, "01"), Section)


def test_unknown_and_ambiguous_ids_say_what_to_do(modules):
    with pytest.raises(ExerciseNotFound, match="course list"):
        find_exercise(modules, "nope")


def _module_root(tmp_path, exercise_toml: str):
    lessons = tmp_path / "lessons" / "demo"
    lessons.mkdir(parents=True)
    (lessons / "module.toml").write_text(
        'id = "demo"\ntitle = "Demo"\n[[sections]]\nid = "01-a"\ntitle = "A"\n', encoding="utf-8"
    )
    exercise = tmp_path / "exercises" / "demo" / "01-a"
    exercise.mkdir(parents=True)
    (exercise / "exercise.toml").write_text(exercise_toml, encoding="utf-8")
    return tmp_path


def test_a_broken_exercise_is_reported_with_file_and_line_and_the_module_still_loads(tmp_path):
    root = _module_root(
        tmp_path, 'id = "01-a"\ntitle = "A"\nsection = "01-a"\nedit = ["x.py"]\ntask = "t"\nhints = []\ncolour = "red"\n'
    )
    module = load_module(root, "demo")
    assert module.exercises == []
    (problem,) = module.problems
    assert problem.line == 7 and "unknown key 'colour'" in str(problem)
    assert str(problem).startswith(str(root / "exercises" / "demo" / "01-a" / "exercise.toml") + ":7:")


def test_invalid_toml_names_the_line(tmp_path):
    root = _module_root(tmp_path, 'id = "01-a"\ntitle = \n')
    (problem,) = load_module(root, "demo").problems
    assert problem.line == 2 and "invalid TOML" in str(problem)


def test_a_broken_module_file_is_a_content_error(tmp_path):
    (tmp_path / "lessons" / "demo").mkdir(parents=True)
    (tmp_path / "lessons" / "demo" / "module.toml").write_text("id = \n", encoding="utf-8")
    with pytest.raises(ContentError, match="module.toml:1"):
        load_module(tmp_path, "demo")


def test_progress_survives_reopening_and_counts(tmp_path):
    store = Progress(tmp_path / "p.sqlite3")
    store.record_result("m/e", "fail", "g1", {"x": 1})
    store.record_result("m/e", "pass", "g1", {"x": 2})
    assert store.bump("m/e", "hints") == 1 and store.bump("m/e", "hints") == 2
    store.set("position", "m/e")
    store.close()
    again = Progress(tmp_path / "p.sqlite3")
    latest = again.latest("m/e")
    assert latest.status == "pass" and latest.attempts == 2
    assert again.count("m/e", "hints") == 2 and again.get("position") == "m/e"
    assert again.schema_version == SCHEMA_VERSION


def test_a_store_from_a_newer_release_is_refused_not_clobbered(tmp_path):
    path = tmp_path / "p.sqlite3"
    Progress(path).close()
    with sqlite3.connect(path) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(ProgressError, match="newer version"):
        Progress(path)


def test_kill_during_writes_never_corrupts_the_store(tmp_path):
    path = tmp_path / "p.sqlite3"
    Progress(path).close()
    writer = (
        "import sys; from course.learner.progress import Progress; p = Progress(__import__('pathlib').Path(sys.argv[1]));\n"
        "i = 0\nwhile True:\n    p.record_result('m/e', 'fail', 'g', {'i': i}); p.bump('m/e', 'hints'); i += 1\n"
    )
    for delay in (0.05, 0.2, 0.4):
        process = subprocess.Popen([sys.executable, "-c", writer, str(path)])
        try:
            process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        store = Progress(path)
        assert store._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        store.close()


def test_an_older_store_is_migrated_and_keeps_its_data(tmp_path):
    from course.learner.progress import MIGRATIONS

    path = tmp_path / "p.sqlite3"
    with sqlite3.connect(path) as raw:  # a store as release 1 wrote it
        for statement in filter(str.strip, MIGRATIONS[1].split(";")):
            raw.execute(statement)
        raw.execute("PRAGMA user_version = 1")
        raw.execute("INSERT INTO results VALUES ('m/e', 1.0, 'pass', 'g', '{}')")
    store = Progress(path)
    assert store.schema_version == SCHEMA_VERSION >= 2
    assert store.latest("m/e").status == "pass"
    assert store.quiz_card("m/q") is None
