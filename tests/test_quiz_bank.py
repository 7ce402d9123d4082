"""The quiz bank is well formed: enough questions per section, answers among the choices, SQL cards compile."""

from __future__ import annotations

import tomllib
from collections import Counter

from sqlalchemy.dialects import postgresql

from course.locations import builtin_content_root

QUIZ = builtin_content_root() / "quizzes" / "sqlalchemy-2.toml"


def load():
    return tomllib.loads(QUIZ.read_text())


def test_every_section_has_at_least_two_questions_and_thirty_in_all(modules):
    data = load()
    sections = {s.id for m in modules if m.id == "sqlalchemy-2" for s in m.sections}
    counts = Counter(q["section"] for q in data["question"])
    assert set(counts) == sections
    assert min(counts.values()) >= 2 and sum(counts.values()) >= 30
    assert len({q["id"] for q in data["question"]}) == len(data["question"])


def test_choice_answers_are_among_the_choices_and_every_question_explains():
    for question in load()["question"]:
        assert question.get("explanation"), question["id"]
        if question["kind"] == "choice":
            texts = [choice["text"] for choice in question["choices"]]
            assert question["correct"] and set(question["correct"]) <= set(texts), question["id"]


def test_sql_cards_compile_for_postgres():
    data = load()
    import sys
    import types

    module = types.ModuleType("course_quiz_models")  # SQLAlchemy resolves annotations via sys.modules
    sys.modules[module.__name__] = module
    exec(data["sql"]["setup"], module.__dict__)
    namespace = module.__dict__
    cards = [q for q in data["question"] if q["kind"] == "sql"]
    assert len(cards) >= 5
    for card in cards:
        statement = eval(card["statement"], namespace)  # noqa: S307 - shipped content
        assert str(statement.compile(dialect=postgresql.dialect())).strip()
