"""The quiz bank is well formed and cannot be beaten blind: enough questions per section, answers
among the choices, SQL cards compile, and neither length nor position gives the answer away."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy.dialects import postgresql

from course.content.quizbank import Choice, Question, QuizBank, load_quiz_bank
from course.content.validate import MAX_LONGEST_SHARE, quiz_balance_problems
from course.learner.progress import Progress
from course.locations import builtin_content_root
from course.quiz.session import QuizSession

QUIZ = builtin_content_root() / "quizzes" / "sqlalchemy-2.toml"


@pytest.fixture(scope="module")
def bank() -> QuizBank:
    return load_quiz_bank(QUIZ)


def single_answer(bank: QuizBank) -> list[Question]:
    return [q for q in bank.questions if q.kind == "choice" and len(q.correct) == 1]


def test_every_section_has_at_least_two_questions_and_thirty_in_all(modules, bank):
    sections = {s.id for m in modules if m.id == "sqlalchemy-2" for s in m.sections}
    counts = Counter(q.section for q in bank.questions)
    assert set(counts) == sections
    assert min(counts.values()) >= 2 and sum(counts.values()) >= 30


def test_choice_answers_are_among_the_choices_and_every_question_explains(bank):
    for question in bank.questions:
        assert question.explanation.strip(), question.id
        if question.kind == "choice":
            ids = [c.id for c in question.choices]
            assert question.correct and set(question.correct) <= set(ids), question.id
            assert len(set(ids)) == len(ids), question.id


def test_sql_cards_compile_for_postgres(bank):
    import sys
    import types

    module = types.ModuleType("course_quiz_models")  # SQLAlchemy resolves annotations via sys.modules
    sys.modules[module.__name__] = module
    exec(bank.sql_setup, module.__dict__)
    cards = [q for q in bank.questions if q.kind == "sql"]
    assert len(cards) >= 5
    for card in cards:
        statement = eval(card.statement, module.__dict__)  # noqa: S307 - shipped content
        assert str(statement.compile(dialect=postgresql.dialect())).strip()


def test_the_right_answer_is_seldom_the_longest_choice(bank):
    questions = single_answer(bank)
    longest = [q.id for q in questions if len(q.choice(q.correct[0]).text) >= max(len(c.text) for c in q.choices)]
    share = len(longest) / len(questions)
    print(f"right answer longest in {len(longest)}/{len(questions)} single-answer questions ({share:.0%})")
    assert share <= MAX_LONGEST_SHARE, longest


def test_no_position_holds_the_right_answer_more_than_its_share_in_the_file(bank):
    questions = single_answer(bank)
    for position in range(3):
        fair = sum(1 / len(q.choices) for q in questions if len(q.choices) > position) / len(questions)
        held = sum(1 for q in questions if [c.id for c in q.choices].index(q.correct[0]) == position) / len(questions)
        assert abs(held - fair) <= 0.15, (position, held, fair)


def test_after_shuffling_every_position_is_equally_likely_to_be_right(bank, tmp_path):
    questions = single_answer(bank)
    session = QuizSession(bank, Progress(tmp_path / "p.sqlite3"), "sqlalchemy-2", seed=2024)
    at_a, shows = 0, 0
    for _ in range(100):
        for question in questions:
            shown = session.present(question)
            at_a += shown[0].id == question.correct[0]
            shows += 1
    fair = sum(1 / len(q.choices) for q in questions) / len(questions)
    assert abs(at_a / shows - fair) < 0.03, (at_a / shows, fair)


def test_key_terms_of_free_recall_are_not_given_away_by_the_prompt(bank):
    for question in bank.questions:
        for group in question.must_mention:
            assert not any(term.lower() in question.prompt.lower() for term in group), (question.id, group)
            assert any(term.lower() in question.answer.lower() for term in group), (question.id, group)


def fake_bank(right_first_and_longest: bool) -> QuizBank:
    questions = []
    for n in range(10):
        wrong = [Choice(f"wrong {k}", id=f"w{k}") for k in range(3)]
        if right_first_and_longest:
            choices = [Choice("the right answer, spelled out at great length", id="right"), *wrong]
        else:
            choices = wrong[: n % 4] + [Choice("short", id="right")] + wrong[n % 4 :]
        questions.append(Question(f"q{n}", "01", "choice", "?", "because", choices, ["right"]))
    return QuizBank(Path("quizzes/fake.toml"), questions)


def test_validate_reports_a_bank_that_length_or_position_gives_away():
    problems = [str(p) for p in quiz_balance_problems(fake_bank(right_first_and_longest=True))]
    assert any("longest choice in 10 of 10" in p for p in problems), problems
    assert any("choice a in 100%" in p for p in problems), problems
    assert quiz_balance_problems(fake_bank(right_first_and_longest=False)) == []


def test_validate_finds_the_shipped_bank_balanced(bank):
    assert quiz_balance_problems(bank) == []


def test_course_validate_reports_the_bank_when_the_right_answer_always_comes_first(tmp_path):
    """The old shape of the bank, rebuilt: every right choice moved to the top of its question."""
    import re
    import shutil
    import subprocess
    import sys

    shutil.copytree(builtin_content_root() / "lessons", tmp_path / "lessons")
    shutil.copytree(builtin_content_root() / "quizzes", tmp_path / "quizzes")
    path = tmp_path / "quizzes" / "sqlalchemy-2.toml"
    blocks = path.read_text(encoding="utf-8").split("\n[[question]]\n")
    for index, block in enumerate(blocks):
        single = re.search(r'^correct = \["([^"]+)"\]$', block, re.M)
        if not single:
            continue
        head, *choices = block.rstrip("\n").split("[[question.choices]]\n")
        choices = [c.rstrip("\n") + "\n" for c in choices]
        right = next(c for c in choices if f'id = "{single.group(1)}"\n' in c)
        choices.remove(right)
        blocks[index] = head + "".join("[[question.choices]]\n" + c for c in [right, *choices]) + "\n"
    path.write_text("\n[[question]]\n".join(blocks), encoding="utf-8")
    bank = load_quiz_bank(path)
    assert all([c.id for c in q.choices].index(q.correct[0]) == 0 for q in single_answer(bank))
    result = subprocess.run(
        [sys.executable, "-m", "course.cli", "validate", "--static", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        encoding="utf-8",
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "sqlalchemy-2.toml: the right answer is choice a in 100% of single-answer questions" in result.stdout


def test_the_gate_keys_of_a_question_are_checked(tmp_path):
    from course.content.model import ContentError

    base = 'pass_threshold = 0.8\n[[question]]\nid = "q"\nsection = "a"\nkind = "recall"\nprompt = "p"\nanswer = "x"\nexplanation = "e"\n'
    path = tmp_path / "bank.toml"
    path.write_text(base + 'group = "g"\nconcept = "c"\ntaught_in = "a"\n', encoding="utf-8")
    (question,) = load_quiz_bank(path, {"a"}).questions
    assert (question.group, question.concept, question.taught_in) == ("g", "c", "a")
    path.write_text(base + 'taught_in = "nowhere"\n', encoding="utf-8")
    with pytest.raises(ContentError, match="taught_in names an unknown section"):
        load_quiz_bank(path, {"a"})
    path.write_text(base + 'concept = ""\n', encoding="utf-8")
    with pytest.raises(ContentError, match="concept must be a non-empty string"):
        load_quiz_bank(path, {"a"})
