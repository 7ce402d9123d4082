"""Every quiz card tests what a lesson teaches: each construct a predict-the-SQL card's statement
uses (a statement function, a method of its chain, a ``func.`` function, a loader option, a
table's ``.c``) appears in the runnable code of some lesson, and every gate question names the
section that teaches it."""

from __future__ import annotations

import ast

import pytest

from course.content.lessoncode import python_blocks
from course.content.model import load_modules
from course.content.quizbank import load_quiz_bank

STATEMENTS = {"select", "update", "insert", "delete"}


def _root(node: ast.AST) -> ast.AST:
    while isinstance(node, ast.Call | ast.Attribute | ast.Subscript):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node


def constructs(code: str) -> set[str]:
    """The SQL-building constructs ``code`` uses; a method counts only on a statement's chain (so a
    thread's ``t.join()`` is not a taught ``.join()``)."""
    found = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Call):
            function, root = node.func, _root(node)
            if isinstance(function, ast.Name) and (
                function.id in STATEMENTS or function.id.endswith("load") or function.id == "contains_eager"
            ):
                found.add(f"{function.id}()")
            elif isinstance(function, ast.Attribute):
                if isinstance(root, ast.Name) and root.id in STATEMENTS:
                    found.add(f".{function.attr}()")
                if isinstance(function.value, ast.Name) and function.value.id == "func":
                    found.add(f"func.{function.attr}()")
        if isinstance(node, ast.Attribute) and node.attr == "c":
            found.add(".c")
    return found


@pytest.fixture(scope="module")
def module():
    return load_modules()[0]


@pytest.fixture(scope="module")
def taught(module) -> dict[str, set[str]]:
    """Construct -> the lessons whose runnable code uses it."""
    where: dict[str, set[str]] = {}
    for lesson in sorted((module.root / "lessons" / module.id).glob("*.md")):
        for kind, _line, body in python_blocks(lesson.read_text(encoding="utf-8"), module.root):
            code = body[1] if kind == "file" else body
            for construct in constructs(code):
                where.setdefault(construct, set()).add(lesson.stem)
    return where


def test_the_extraction_sees_what_a_statement_uses():
    used = constructs("select(Tag.name).join(document_tag, Tag.id == document_tag.c.tag_id).where(x == func.count(Tag.id))")
    assert used == {"select()", ".join()", ".where()", ".c", "func.count()"}
    assert constructs("t = threading.Thread(); t.join()") == set()


def test_every_sql_card_uses_only_what_a_lesson_teaches(module, taught):
    bank = load_quiz_bank(module.quiz, {s.id for s in module.sections})
    untaught = {}
    for question in bank.questions:
        if question.kind == "sql":
            missing = sorted(constructs(question.statement) - set(taught))
            if missing:
                untaught[question.id] = missing
    assert untaught == {}, f"cards use constructs no lesson's code shows: {untaught}"


def test_joins_statements_columns_and_counts_are_taught_where_they_fit(taught):
    assert {"05-relationships"} <= taught[".join()"]
    assert {"04-crud"} <= taught["update()"] & taught["insert()"] & taught["delete()"]
    assert {"09-many-to-many"} <= taught[".c"]
    assert {"05-relationships"} <= taught["func.count()"]
    assert {"11-loading"} <= taught["contains_eager()"]


def test_a_card_is_taught_before_or_in_its_own_section(module, taught):
    """A practice card's constructs appear in its section's lesson or an earlier one."""
    bank = load_quiz_bank(module.quiz, {s.id for s in module.sections})
    order = [s.id for s in module.sections]
    late = {}
    for question in bank.questions:
        if question.kind != "sql":
            continue
        section = question.taught_in or question.section
        for construct in constructs(question.statement):
            if min(order.index(lesson) for lesson in taught[construct]) > order.index(section):
                late.setdefault(question.id, []).append(construct)
    assert late == {}, f"cards ask for constructs taught only in a later section: {late}"
