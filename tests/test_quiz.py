"""Self-check quiz: grading, FSRS scheduling in the progress store, piped sessions, stats."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from course.content import load_modules
from course.progress import Progress
from course.quiz import QuizSession, normalise_sql, stats
from course.quizbank import load_quiz_bank


@pytest.fixture(scope="module")
def bank():
    module = load_modules()[0]
    return load_quiz_bank(module.quiz, {s.id for s in module.sections})


@pytest.fixture
def clock():
    moments = [datetime(2026, 1, 5, 9, 0, tzinfo=UTC)]
    return moments


@pytest.fixture
def session(bank, tmp_path, clock):
    return QuizSession(bank, Progress(tmp_path / "p.sqlite3"), "sqlalchemy-2", now=lambda: clock[0])


def first(bank, kind, section=None):
    return next(q for q in bank.questions if q.kind == kind and section in (None, q.section))


def test_a_wrong_answer_comes_back_sooner_than_a_right_one(session, bank, clock):
    right_q, wrong_q = [q for q in bank.questions if q.kind == "choice"][:2]
    right_due = session.record(right_q, session.grade_choice(right_q, right_q.correct))
    wrong_pick = [c.text for c in wrong_q.choices if c.text not in wrong_q.correct][:1]
    outcome = session.grade_choice(wrong_q, wrong_pick)
    assert outcome.correct is False
    wrong_due = session.record(wrong_q, outcome)
    assert wrong_due < right_due
    # both are in the store with their history, and the wrong one is due first
    assert session.progress.quiz_reviews(f"sqlalchemy-2/{wrong_q.id}") == [(False, 1)]
    clock[0] = wrong_due + timedelta(seconds=1)
    due_now = session.select(due_only=True)
    assert wrong_q in due_now and right_q not in due_now


def test_a_right_answer_reviewed_again_is_pushed_further_out(session, bank, clock):
    question = first(bank, "choice")
    first_due = session.record(question, session.grade_choice(question, question.correct))
    clock[0] = first_due
    second_due = session.record(question, session.grade_choice(question, question.correct))
    assert second_due - clock[0] > first_due - datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def test_wrong_choices_carry_their_own_feedback(session, bank):
    question = next(q for q in bank.questions if q.kind == "choice" and any(c.feedback for c in q.choices))
    wrong = next(c for c in question.choices if c.feedback and c.text not in question.correct)
    outcome = session.grade_choice(question, [wrong.text])
    assert wrong.feedback in outcome.feedback


@pytest.mark.parametrize(
    ("typed", "right"),
    [
        ("SELECT documents.id, documents.title FROM documents WHERE length(documents.body) > 5000", True),
        ("select id, title from documents where length(body) > 5000;", True),
        ("SELECT id, title FROM documents WHERE length(body) >= 5000", False),
        ("SELECT * FROM documents", False),
    ],
)
def test_predict_the_sql_compares_against_the_real_compilation(session, bank, typed, right):
    question = next(q for q in bank.questions if q.id == "predict-hybrid-where")
    outcome = session.grade_sql(question, typed)
    assert outcome.correct is right, outcome.expected
    assert "length(documents.body) > 5000" in outcome.expected
    if not right:
        assert outcome.feedback


def test_normalising_sql_ignores_casts_placeholders_and_qualifiers():
    compiled = "SELECT documents.id FROM documents WHERE documents.owner_id = %(owner_id_1)s::INTEGER"
    assert normalise_sql(compiled) == normalise_sql("select id from documents where owner_id = 1")


def test_stats_reflect_answers(session, bank, clock):
    question = first(bank, "choice", "11-loading")
    session.record(question, session.grade_choice(question, ["definitely wrong"]))
    row = next(r for r in stats(bank, session.progress, "sqlalchemy-2", clock[0]) if r["section"] == "11-loading")
    assert row["seen"] == 1 and row["retention"] == 0.0
    assert row["cards"] == len(bank.for_section("11-loading"))


def test_the_final_section_completes_the_module_above_the_threshold(session, bank):
    final = [q for q in bank.for_section("14-check-yourself")]
    for index, question in enumerate(final):
        picked = question.correct if index > 0 else ["nope"]
        session.record(question, session.grade_choice(question, picked))
    right, asked = session.section_score("14-check-yourself")
    assert asked == len(final) and right == len(final) - 1
    assert session.completes_module("14-check-yourself") is ((len(final) - 1) / len(final) >= bank.pass_threshold)


def quiz_cli(workspace, *args, input_text=""):
    env = {**os.environ, "COURSE_WORKSPACE": str(workspace), "COLUMNS": "120"}
    return subprocess.run([sys.executable, "-m", "course.cli", "quiz", *args], input=input_text,
                          capture_output=True, text=True, env=env, timeout=120)


def test_a_piped_session_records_answers_and_stops_cleanly_on_eof(tmp_path, bank):
    workspace = tmp_path / "ws"
    questions = bank.for_section("11-loading")
    answers = []
    for question in questions:
        if question.kind == "choice":
            answers.append(",".join("abcdefghij"[[c.text for c in question.choices].index(t)] for t in question.correct))
        elif question.kind == "recall":
            answers += ["my answer", "3"]
        else:
            answers.append("SELECT 1")
    answers = answers[:-1]  # stop early: EOF in the middle of the session
    result = quiz_cli(workspace, "--section", "11", input_text="\n".join(answers) + "\n")
    assert result.returncode == 0, result.stderr
    assert "selectinload" in result.stdout and "joinedload" in result.stdout
    assert "answer(s) saved" in result.stdout
    store = Progress(workspace / ".course" / "progress.sqlite3")
    seen = [q for q in questions if store.quiz_card(f"sqlalchemy-2/{q.id}")]
    assert len(seen) == len(questions) - 1
    stats_out = quiz_cli(workspace, "--stats").stdout
    assert "11-loading" in stats_out
    # the answered cards are no longer due; the unanswered one is
    due = quiz_cli(workspace, "--section", "11", "--due", input_text="").stdout
    assert "Question 1/1" in due
