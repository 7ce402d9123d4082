"""The module's final check cannot be passed blind: 1,000 simulated learners per guessing strategy
go through the section-14 quiz, graded by the real engine (shuffled choices, sqlglot for the SQL,
the key terms of free recall), and almost none of them complete the module."""

from __future__ import annotations

import random

import pytest

from course.content.model import load_modules
from course.content.quizbank import load_quiz_bank
from course.learner.progress import Progress
from course.quiz.session import QuizSession, final_check_passes

LEARNERS = 1000
FINAL = "14-check-yourself"


@pytest.fixture(scope="module")
def bank():
    module = load_modules()[0]
    return load_quiz_bank(module.quiz, {s.id for s in module.sections})


def always_a(shown, rng):
    return shown[0]


def at_random(shown, rng):
    return rng.choice(shown)


def always_longest(shown, rng):
    return max(shown, key=lambda c: len(c.text))


STRATEGIES = {"always a": always_a, "random": at_random, "always the longest": always_longest}


def blind_attempt(session: QuizSession, questions, pick, rng, *, knows_the_rest: bool = False) -> dict:
    """One learner's answers: choices by ``pick``; free recall echoes the prompt and rates itself
    "easy"; SQL is a guess. ``knows_the_rest``: recall and SQL answered right (choices still blind)."""
    outcomes = {}
    for question in questions:
        if question.kind == "choice":
            shown = session.present(question)
            picked = [pick(shown, rng).id]
            if question.multiple:
                picked = [c.id for c in shown if rng.random() < 0.5] or picked
            outcomes[question.id] = session.grade_choice(question, picked, shown)
        elif question.kind == "recall":
            typed = question.answer if knows_the_rest else question.prompt
            outcomes[question.id] = session.grade_recall(question, "easy", typed)
        else:
            typed = session.sql.expected(question) if knows_the_rest else "SELECT * FROM documents"
            outcomes[question.id] = session.grade_sql(question, typed)
    return outcomes


def pass_rate(bank, tmp_path, strategy, **kwargs) -> float:
    questions = bank.for_section(FINAL)
    session = QuizSession(bank, Progress(tmp_path / "p.sqlite3"), "sqlalchemy-2")
    passed = 0
    for learner in range(LEARNERS):
        session.rng = random.Random(learner)  # each learner sees their own shuffle of the choices
        rng = random.Random(10_000 + learner)
        passed += final_check_passes(bank, FINAL, blind_attempt(session, questions, strategy, rng, **kwargs))
    return passed / LEARNERS


@pytest.mark.parametrize("name", STRATEGIES)
def test_blind_learners_almost_never_complete_the_module(bank, tmp_path, name):
    rate = pass_rate(bank, tmp_path, STRATEGIES[name])
    choices_only = pass_rate(bank, tmp_path, STRATEGIES[name], knows_the_rest=True)
    print(
        f"\n{name}: {rate:.1%} of {LEARNERS} blind learners pass the final check "
        f"({choices_only:.1%} when they answer free recall and SQL right but guess every choice)"
    )
    assert rate < 0.01


def test_a_learner_who_knows_the_answers_passes(bank, tmp_path):
    session = QuizSession(bank, Progress(tmp_path / "p.sqlite3"), "sqlalchemy-2", seed=1)
    outcomes = {}
    for question in bank.for_section(FINAL):
        if question.kind == "choice":
            outcomes[question.id] = session.grade_choice(question, question.correct, session.present(question))
        elif question.kind == "recall":
            outcomes[question.id] = session.grade_recall(question, "good", question.answer)
        else:
            outcomes[question.id] = session.grade_sql(question, session.sql.expected(question))
    assert all(o.counts_as_right for o in outcomes.values())
    assert final_check_passes(bank, FINAL, outcomes)
