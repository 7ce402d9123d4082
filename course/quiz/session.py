"""Self-check quizzes with spaced repetition: the engine shared by ``course quiz`` and the TUI.

Scheduling is FSRS (the ``fsrs`` package, the scheduler Anki ships): each card's memory state
and due time live in the progress store. Choice and "predict the SQL" answers are graded here
(choices shown in a fresh order each time, SQL compared by meaning: ``course.quiz.sql``);
free-recall answers are graded by the learner (again / hard / good / easy), retrieval first —
and, where a question lists ``must_mention`` terms, by whether the typed answer names them.
"""

from __future__ import annotations

import os
import random
import re
import sys
import types
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, cast

from course.content.quizbank import Choice, Question, QuizBank
from course.learner.progress import Progress
from course.quiz.sql import SqlJudgement, differences, judge

if TYPE_CHECKING:
    from fsrs.card import CardDict

RATINGS = ("again", "hard", "good", "easy")


@dataclass
class Outcome:
    """What an answer earned, and what to show next."""

    correct: bool | None
    """None for free recall the learner judges alone (no ``must_mention`` terms)."""
    rating: str
    feedback: list[str] = field(default_factory=list)
    """Targeted notes for the wrong choices picked (or the SQL differences)."""
    expected: str = ""
    """For SQL cards: what SQLAlchemy really sends."""
    picked: list[str] = field(default_factory=list)
    """For choice questions: the ids of the choices picked."""
    shown: list[str] = field(default_factory=list)
    """For choice questions: the ids in the order they were shown."""
    sql: SqlJudgement | None = None
    """For SQL cards: both statements in the canonical form they were compared in."""

    @property
    def counts_as_right(self) -> bool:
        """Right, for the module's final check: graded right, or self-graded good/easy."""
        return self.correct if self.correct is not None else self.rating in ("good", "easy")


# -- predict the SQL ---------------------------------------------------------------------------


class SqlCards:
    """Compiles the statements of ``sql`` cards with the bank's model setup (once)."""

    def __init__(self, setup: str):
        self._setup = setup
        self._namespace: dict | None = None
        self._schema: dict[str, dict[str, str]] | None = None
        self._expected: dict[str, str] = {}

    def _names(self) -> dict:
        if self._namespace is None:
            # SQLAlchemy resolves Mapped[...] annotations through sys.modules[cls.__module__]
            module = types.ModuleType("course_quiz_models")
            sys.modules[module.__name__] = module
            exec(compile(self._setup, "<quiz sql setup>", "exec"), module.__dict__)  # noqa: S102 - shipped content
            self._namespace = module.__dict__
        return self._namespace

    def schema(self) -> dict[str, dict[str, str]]:
        """Tables and their columns, in order, from the setup's metadata: how ``SELECT *`` expands."""
        if self._schema is None:
            from sqlalchemy import MetaData

            self._schema = {}
            for value in list(self._names().values()):
                metadata = getattr(value, "metadata", None)
                if isinstance(metadata, MetaData):
                    for table in metadata.sorted_tables:
                        self._schema[table.name] = {column.name: "text" for column in table.columns}
        return self._schema

    def expected(self, question: Question) -> str:
        if question.statement not in self._expected:
            self._expected[question.statement] = self._compile(question)
        return self._expected[question.statement]

    def _compile(self, question: Question) -> str:
        from sqlalchemy.dialects import postgresql

        statement = eval(question.statement, self._names())  # noqa: S307 - shipped content
        dialect = postgresql.dialect()
        try:
            sql = str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        except Exception:  # some constructs cannot render literals; show placeholders then
            sql = str(statement.compile(dialect=dialect))
        return re.sub(r"[ \t]*\n[ \t]*", " ", sql).strip()


# -- the engine --------------------------------------------------------------------------------


@dataclass
class Summary:
    """How a quiz session went."""

    answered: int
    right: int
    graded: int
    """Answers graded right/wrong (free recall is self-graded, not counted here)."""
    completed_module: bool

    def describe(self) -> str:
        return f"{self.answered} answered" + (f", {self.right}/{self.graded} right" if self.graded else "")


class QuizSession:
    """Pick questions, grade answers, schedule the next review, keep score."""

    def __init__(
        self, bank: QuizBank, progress: Progress, module_id: str, now=lambda: datetime.now(UTC), seed: int | None = None
    ):
        """``seed`` fixes the order choices are shuffled in, so an order can be reproduced (default:
        ``COURSE_QUIZ_SEED`` when set, else a fresh order every time)."""
        from fsrs import Scheduler

        if seed is None and os.environ.get("COURSE_QUIZ_SEED", "").strip():
            seed = int(os.environ["COURSE_QUIZ_SEED"])
        self.rng = random.Random(seed)
        self.bank = bank
        self.progress = progress
        self.module_id = module_id
        self.now = now
        self.scheduler = Scheduler(enable_fuzzing=False)
        self.sql = SqlCards(bank.sql_setup)
        self.answered: list[tuple[Question, Outcome]] = []

    def key(self, question: Question) -> str:
        return f"{self.module_id}/{question.id}"

    # choosing questions

    def due_at(self, question: Question) -> datetime | None:
        state = self.progress.quiz_card(self.key(question))
        if state is None:
            return None
        return datetime.fromisoformat(state["due"])

    def select(self, *, section: str | None = None, due_only: bool = False) -> list[Question]:
        """Questions to drill: a section's (due ones first), or the due ones, most overdue first.

        New cards count as due; without ``due_only`` a section is drilled whole.
        """
        pool = self.bank.for_section(section) if section else list(self.bank.questions)
        now = self.now()
        order = {q.id: n for n, q in enumerate(self.bank.questions)}

        def due_key(question: Question):
            due = self.due_at(question)
            return (0 if due is None else 1, due or now, order[question.id])

        due = sorted((q for q in pool if (self.due_at(q) or now) <= now), key=due_key)
        if due_only or not section:
            return due
        later = sorted((q for q in pool if q not in due), key=due_key)
        return due + later

    # grading

    def present(self, question: Question) -> list[Choice]:
        """The choices in a fresh random order, for one showing of ``question``."""
        order = list(question.choices)
        self.rng.shuffle(order)
        return order

    def grade_choice(self, question: Question, picked: list[str], shown: list[Choice] | None = None) -> Outcome:
        """``picked``: the ids (or texts) of the chosen choices; ``shown``: the order they were shown in."""
        by_text = {c.text: c.id for c in question.choices}
        ids = list(dict.fromkeys(by_text.get(p, p) for p in picked))
        right = set(ids) == set(question.correct)
        notes = [c.feedback for c in question.choices if c.id in ids and c.id not in question.correct and c.feedback]
        missed = [question.choice(i).text for i in question.correct if i not in ids]
        if not right and missed and question.multiple:
            notes.append("Also correct: " + "; ".join(missed))
        order = [c.id for c in (shown or question.choices)]
        return Outcome(right, "good" if right else "again", notes, picked=ids, shown=order)

    def grade_sql(self, question: Question, typed: str) -> Outcome:
        expected = self.sql.expected(question)
        verdict = judge(expected, typed, self.sql.schema())
        notes = [] if verdict.same else ([verdict.problem] if verdict.problem else differences(verdict.expected, verdict.typed))
        return Outcome(verdict.same, "good" if verdict.same else "again", notes, expected, sql=verdict)

    def grade_recall(self, question: Question, rating: str, typed: str = "") -> Outcome:
        """The learner's own rating; with ``must_mention`` terms, the typed answer must name them too."""
        if rating not in RATINGS:
            raise ValueError(f"rating must be one of {RATINGS}")
        if not question.must_mention:
            return Outcome(None, rating)
        missing = missing_terms(question, typed)
        notes = [f"Your answer does not mention {', '.join(f'`{group[0]}`' for group in missing)}."] if missing else []
        return Outcome(not missing and rating != "again", rating, notes)

    # recording

    def record(self, question: Question, outcome: Outcome, answer: str = "") -> datetime:
        """Schedule the card and store the review; returns when it is due next."""
        from fsrs import Card, Rating

        key = self.key(question)
        state = self.progress.quiz_card(key)
        # the state is the JSON of an earlier card.to_dict(), which Progress keeps as a plain dict
        card = Card.from_dict(cast("CardDict", state)) if state else Card()
        rating = Rating[outcome.rating.capitalize()]
        card, _log = self.scheduler.review_card(card, rating, review_datetime=self.now())
        choices = {"picked": outcome.picked, "shown": outcome.shown} if question.kind == "choice" else None
        # a CardDict is a dict at run time; record_quiz_review's ``dict`` annotation takes no TypedDict
        self.progress.record_quiz_review(
            key,
            cast(dict, card.to_dict()),
            card.due.timestamp(),
            RATINGS.index(outcome.rating) + 1,
            outcome.correct,
            answer,
            choices,
        )
        self.answered.append((question, outcome))
        return card.due

    # results

    def finish(self, final_section: str) -> Summary:
        """The session's score; records the module as complete when the final section passed."""
        right = sum(1 for _, o in self.answered if o.correct)
        graded = sum(1 for _, o in self.answered if o.correct is not None)
        completed = self.completes_module(final_section)
        if completed:
            self.progress.set(f"module-complete:{self.module_id}", self.now().isoformat())
        return Summary(len(self.answered), right, graded, completed)

    def completes_module(self, section: str) -> bool:
        """True when every question of the final section was answered and the score passes."""
        latest = {q.id: o for q, o in self.answered if q.section == section}
        return final_check_passes(self.bank, section, latest)

    def past_choices(self, question: Question) -> list[list[str]]:
        """The ids picked at each stored review of a choice question, older stores included
        (reviews stored before choices had ids keep the picked texts in ``answer``)."""
        by_text = {c.text: c.id for c in question.choices}
        picks = []
        for answer, choices in self.progress.quiz_answers(self.key(question)):
            if choices is not None:
                picks.append(list(choices["picked"]))
            else:
                picks.append([by_text[t] for t in _split_texts(answer, by_text) if t in by_text])
        return picks


def _split_texts(answer: str, by_text: dict[str, str]) -> list[str]:
    """Texts joined with ", " (how v2 stored them); a text may itself contain ", "."""
    found: dict[str, int] = {}
    rest = answer
    for text in sorted(by_text, key=len, reverse=True):  # longest first: a text may contain another
        if text in rest:
            found[text] = answer.find(text)
            rest = rest.replace(text, "\0" * len(text))
    return sorted(found, key=found.__getitem__)


def missing_terms(question: Question, typed: str) -> list[list[str]]:
    """The ``must_mention`` groups the typed answer names none of the spellings of."""
    text = typed.lower()
    return [group for group in question.must_mention if not any(term.lower() in text for term in group)]


def final_check_passes(bank: QuizBank, section: str, outcomes: dict[str, Outcome]) -> bool:
    """The module's final check: every question of ``section`` answered (choices, free recall and
    predict-the-SQL alike) and the share answered right at least the bank's pass threshold."""
    questions = bank.for_section(section)
    if not questions or any(q.id not in outcomes for q in questions):
        return False
    right = sum(1 for q in questions if outcomes[q.id].counts_as_right)
    return right / len(questions) >= bank.pass_threshold


def stats(bank: QuizBank, progress: Progress, module_id: str, now: datetime | None = None) -> list[dict]:
    """Per section: cards, cards seen, retention (share of graded reviews answered right), due now, next due."""
    now = now or datetime.now(UTC)
    rows = []
    sections: dict[str, list[Question]] = {}
    for question in bank.questions:
        sections.setdefault(question.section, []).append(question)
    for section, questions in sections.items():
        keys = [f"{module_id}/{q.id}" for q in questions]
        seen, due_now, next_due, right, graded = 0, 0, None, 0, 0
        for key in keys:
            state = progress.quiz_card(key)
            if state is None:
                due_now += 1
                continue
            seen += 1
            due = datetime.fromisoformat(state["due"])
            if due <= now:
                due_now += 1
            elif next_due is None or due < next_due:
                next_due = due
            for correct, rating in progress.quiz_reviews(key):
                graded += 1
                right += 1 if (correct if correct is not None else rating >= 3) else 0
        rows.append(
            {
                "section": section,
                "cards": len(questions),
                "seen": seen,
                "retention": (right / graded) if graded else None,
                "due_now": due_now,
                "next_due": next_due.isoformat() if next_due else None,
            }
        )
    return rows
