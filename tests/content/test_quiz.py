"""Self-check quiz: grading, FSRS scheduling in the progress store, piped sessions, stats."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from course.content.model import load_modules
from course.content.quizbank import load_quiz_bank
from course.learner.progress import Progress
from course.quiz.session import QuizSession, stats
from course.quiz.terminal import parse_choice


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
    wrong_pick = [c.id for c in wrong_q.choices if c.id not in wrong_q.correct][:1]
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
    wrong = next(c for c in question.choices if c.feedback and c.id not in question.correct)
    outcome = session.grade_choice(question, [wrong.id])
    assert wrong.feedback in outcome.feedback


def test_choices_are_shuffled_per_showing_and_a_seed_reproduces_the_order(bank, tmp_path):
    question = max((q for q in bank.questions if q.kind == "choice"), key=lambda q: len(q.choices))
    orders = {
        tuple(c.id for c in QuizSession(bank, Progress(tmp_path / "a.sqlite3"), "m", seed=seed).present(question))
        for seed in range(40)
    }
    assert len(orders) > 5  # many different orders across learners
    firsts = {order[0] for order in orders}
    assert firsts == {c.id for c in question.choices}  # every choice gets to be "a"
    one = QuizSession(bank, Progress(tmp_path / "b.sqlite3"), "m", seed=7)
    two = QuizSession(bank, Progress(tmp_path / "c.sqlite3"), "m", seed=7)
    assert [c.id for c in one.present(question)] == [c.id for c in two.present(question)]


def test_a_letter_means_the_choice_shown_there_and_the_store_keeps_its_id(session, bank):
    question = next(q for q in bank.questions if q.kind == "choice" and not q.multiple)
    shown = session.present(question)
    letter = "abcdefghij"[[c.id for c in shown].index(question.correct[0])]
    picked = parse_choice(letter, question, shown)
    assert picked == question.correct
    outcome = session.grade_choice(question, picked, shown)
    assert outcome.correct is True
    session.record(question, outcome, "whatever")
    ((_answer, choices),) = session.progress.quiz_answers(f"sqlalchemy-2/{question.id}")
    assert choices == {"picked": question.correct, "shown": [c.id for c in shown]}
    assert session.past_choices(question) == [question.correct]


def test_progress_stored_before_choice_ids_is_still_read(bank, tmp_path):
    import sqlite3

    from course.learner.progress import MIGRATIONS

    question = next(q for q in bank.questions if q.kind == "choice" and q.multiple)
    path = tmp_path / "old.sqlite3"
    raw = sqlite3.connect(path, isolation_level=None)
    for version in (1, 2):  # the store as release v2 left it, with one review of this question
        raw.executescript(MIGRATIONS[version])
    raw.execute("PRAGMA user_version = 2")
    raw.execute(
        "INSERT INTO quiz_cards VALUES (?, ?, ?)",
        (
            f"sqlalchemy-2/{question.id}",
            '{"card_id": 1, "state": 1, "step": 0, "stability": null, "difficulty": null, "due": "2026-01-05T09:00:00+00:00", "last_review": null}',
            0,
        ),
    )
    raw.execute(
        "INSERT INTO quiz_reviews (card, at, rating, correct, answer) VALUES (?, 1, 3, 1, ?)",
        (f"sqlalchemy-2/{question.id}", ", ".join(question.correct_texts())),
    )
    raw.close()
    store = Progress(path)
    assert store.schema_version >= 3
    session = QuizSession(bank, store, "sqlalchemy-2")
    assert session.past_choices(question) == [question.correct]
    assert store.quiz_reviews(f"sqlalchemy-2/{question.id}") == [(True, 3)]
    row = next(r for r in stats(bank, store, "sqlalchemy-2") if r["section"] == question.section)
    assert row["seen"] == 1 and row["retention"] == 1.0


def test_a_wrong_sql_answer_is_shown_next_to_the_real_one_with_the_difference_marked(session, bank):
    from rich.console import Console

    from course.quiz.terminal import sql_side_by_side

    question = next(q for q in bank.questions if q.id == "predict-hybrid-where")
    outcome = session.grade_sql(question, "SELECT id, title FROM documents WHERE length(body) >= 5000")
    assert outcome.correct is False
    assert outcome.feedback == ["the real SQL has `>` where yours has `>=`"]
    table = sql_side_by_side(outcome)
    assert [c.header for c in table.columns] == ["yours", "what SQLAlchemy sends"]
    yours, real = (list(column.cells)[0] for column in table.columns)
    assert yours.plain == "SELECT documents.id, documents.title FROM documents WHERE LENGTH(documents.body) >= 5000"
    assert real.plain == "SELECT documents.id, documents.title FROM documents WHERE LENGTH(documents.body) > 5000"
    assert [yours.plain[s.start : s.end] for s in yours.spans] == [">="]
    assert [real.plain[s.start : s.end] for s in real.spans] == [">"]
    console = Console(record=True, width=200)
    console.print(table)
    assert ">= 5000" in console.export_text()


def test_stats_reflect_answers(session, bank, clock):
    question = first(bank, "choice", "11-loading")
    session.record(question, session.grade_choice(question, ["definitely wrong"]))
    row = next(r for r in stats(bank, session.progress, "sqlalchemy-2", clock[0]) if r["section"] == "11-loading")
    assert row["seen"] == 1 and row["retention"] == 0.0
    assert row["cards"] == len(bank.for_section("11-loading"))


def right_answer(session, question):
    """What a learner who knows the answer gives: the outcome of grading it."""
    if question.kind == "choice":
        return session.grade_choice(question, question.correct, session.present(question))
    if question.kind == "sql":
        return session.grade_sql(question, session.sql.expected(question))
    return session.grade_recall(question, "good", question.answer)


def wrong_answer(session, question):
    """What a learner who does not know it gives, whatever the card's kind."""
    if question.kind == "choice":
        return session.grade_choice(question, ["nope"])
    if question.kind == "sql":
        return session.grade_sql(question, "SELECT 1")
    return session.grade_recall(question, "again", "")


def test_an_attempt_at_the_final_section_passes_above_the_threshold(session, bank):
    drawn = session.draw()
    assert {"choice", "recall", "sql"} <= {q.kind for q in bank.for_section("14-check-yourself")}  # not only choices
    for question in drawn[1:]:
        session.record(question, right_answer(session, question))
    assert not session.completes_module()  # one drawn question still unanswered
    first = drawn[0]
    session.record(first, wrong_answer(session, first))  # whichever kind the draw put first (a recall card too)
    assert session.completes_module() is ((len(drawn) - 1) / len(drawn) >= session.gate.pass_share)
    summary = session.finish("14-check-yourself")
    assert not summary.completed_module  # one pass is not enough: recall on a later day completes it
    assert summary.gate and summary.gate[0].startswith(f"Final check: {len(drawn) - 1}/{len(drawn)} right")


def test_free_recall_in_the_final_check_needs_the_key_terms_not_only_a_good_rating(session, bank):
    recall = [q for q in bank.for_section("14-check-yourself") if q.kind == "recall"]
    assert recall and all(q.must_mention for q in recall)
    question = recall[0]
    assert session.grade_recall(question, "easy", "").correct is False
    assert session.grade_recall(question, "easy", question.prompt).correct is False
    assert session.grade_recall(question, "good", question.answer).correct is True
    assert session.grade_recall(question, "again", question.answer).correct is False


def quiz_cli(workspace, *args, input_text=""):
    env = {**os.environ, "COURSE_WORKSPACE": str(workspace), "COLUMNS": "120", "COURSE_QUIZ_SEED": "11"}
    return subprocess.run(
        [sys.executable, "-m", "course.cli", "quiz", *args],
        input=input_text,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        encoding="utf-8",
    )


def test_a_piped_session_records_answers_and_stops_cleanly_on_eof(tmp_path, bank):
    workspace = tmp_path / "ws"
    questions = bank.for_section("11-loading")
    same_order = QuizSession(bank, Progress(tmp_path / "order.sqlite3"), "sqlalchemy-2", seed=11)
    answers = []
    for question in questions:
        if question.kind == "choice":
            shown = [c.id for c in same_order.present(question)]
            answers.append(",".join("abcdefghij"[shown.index(i)] for i in question.correct))
        elif question.kind == "recall":
            answers += ["my answer", "3"]
        else:
            answers.append("SELECT 1")
    answers = answers[:-1]  # stop early: EOF in the middle of the session
    result = quiz_cli(workspace, "--section", "11", input_text="\n".join(answers) + "\n")
    assert result.returncode == 0, result.stderr
    assert "selectinload" in result.stdout and "joinedload" in result.stdout
    assert "answer(s) saved" in result.stdout
    assert result.stdout.count("✓ Right.") == sum(1 for q in questions[:-1] if q.kind == "choice")
    store = Progress(workspace / ".course" / "progress.sqlite3")
    seen = [q for q in questions if store.quiz_card(f"sqlalchemy-2/{q.id}")]
    assert len(seen) == len(questions) - 1
    stats_out = quiz_cli(workspace, "--stats").stdout
    assert "11-loading" in stats_out
    # the answered cards are no longer due; the unanswered one is
    due = quiz_cli(workspace, "--section", "11", "--due", input_text="").stdout
    assert "Question 1/1" in due
