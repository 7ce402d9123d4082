"""Self-check quizzes with spaced repetition: the engine shared by ``course quiz`` and the TUI.

Scheduling is FSRS (the ``fsrs`` package, the scheduler Anki ships): each card's memory state
and due time live in the progress store. Choice and "predict the SQL" answers are graded here;
free-recall answers are graded by the learner (again / hard / good / easy), retrieval first.
"""

from __future__ import annotations

import difflib
import re
import sys
import types
from dataclasses import dataclass, field
from datetime import UTC, datetime

from course.progress import Progress
from course.quizbank import Question, QuizBank

RATINGS = ("again", "hard", "good", "easy")


@dataclass
class Outcome:
    """What an answer earned, and what to show next."""

    correct: bool | None
    """None for free recall (the learner judges)."""
    rating: str
    feedback: list[str] = field(default_factory=list)
    """Targeted notes for the wrong choices picked (or the SQL differences)."""
    expected: str = ""


# -- predict the SQL ---------------------------------------------------------------------------

_CAST = re.compile(r"::\s*[a-z_]+(\s*\(\s*\d+\s*\))?(\[\])?", re.IGNORECASE)
_PARAM = re.compile(r"%\(\w+\)s|%s|\$\d+|\?|:\w+|'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b")
_ALIAS = re.compile(r"\s+AS\s+\"?\w+\"?", re.IGNORECASE)
_QUALIFIER = re.compile(r"\b\w+\.(?=\w)")


def normalise_sql(sql: str) -> str:
    """Compare SQL by what matters: case, spacing, casts, parameter spelling, column
    qualifiers and labels do not (``documents.id`` = ``id``, ``%(id_1)s`` = ``5`` = ``?``)."""
    text = sql.strip().rstrip(";")
    text = _CAST.sub("", text)
    text = _PARAM.sub("?", text)
    text = _ALIAS.sub("", text)
    text = _QUALIFIER.sub("", text)
    text = re.sub(r"\s*([(),=<>])\s*", r" \1 ", text)
    return re.sub(r"\s+", " ", text).strip().lower()


class SqlCards:
    """Compiles the statements of ``sql`` cards with the bank's model setup (once)."""

    def __init__(self, setup: str):
        self._setup = setup
        self._namespace: dict | None = None

    def _names(self) -> dict:
        if self._namespace is None:
            # SQLAlchemy resolves Mapped[...] annotations through sys.modules[cls.__module__]
            module = types.ModuleType("course_quiz_models")
            sys.modules[module.__name__] = module
            exec(compile(self._setup, "<quiz sql setup>", "exec"), module.__dict__)  # noqa: S102 - shipped content
            self._namespace = module.__dict__
        return self._namespace

    def expected(self, question: Question) -> str:
        from sqlalchemy.dialects import postgresql

        statement = eval(question.statement, self._names())  # noqa: S307 - shipped content
        dialect = postgresql.dialect()
        try:
            sql = str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        except Exception:  # some constructs cannot render literals; show placeholders then
            sql = str(statement.compile(dialect=dialect))
        return re.sub(r"[ \t]*\n[ \t]*", " ", sql).strip()


def sql_differences(expected: str, typed: str) -> list[str]:
    """Word-level differences between the normalised forms, for the learner."""
    want, got = normalise_sql(expected).split(), normalise_sql(typed).split()
    notes = []
    for op, a1, a2, b1, b2 in difflib.SequenceMatcher(a=want, b=got, autojunk=False).get_opcodes():
        if op == "replace":
            notes.append(f"expected `{' '.join(want[a1:a2])}` where you wrote `{' '.join(got[b1:b2])}`")
        elif op == "delete":
            notes.append(f"missing `{' '.join(want[a1:a2])}`")
        elif op == "insert":
            notes.append(f"not in the real SQL: `{' '.join(got[b1:b2])}`")
    return notes


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

    def __init__(self, bank: QuizBank, progress: Progress, module_id: str, now=lambda: datetime.now(UTC)):
        from fsrs import Scheduler

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

    def grade_choice(self, question: Question, picked: list[str]) -> Outcome:
        right = set(picked) == set(question.correct)
        notes = [c.feedback for c in question.choices if c.text in picked and c.text not in question.correct and c.feedback]
        missed = [text for text in question.correct if text not in picked]
        if not right and missed and question.multiple:
            notes.append("Also correct: " + "; ".join(missed))
        return Outcome(right, "good" if right else "again", notes)

    def grade_sql(self, question: Question, typed: str) -> Outcome:
        expected = self.sql.expected(question)
        right = normalise_sql(expected) == normalise_sql(typed)
        return Outcome(right, "good" if right else "again", [] if right else sql_differences(expected, typed), expected)

    def grade_recall(self, question: Question, rating: str) -> Outcome:
        if rating not in RATINGS:
            raise ValueError(f"rating must be one of {RATINGS}")
        return Outcome(None, rating)

    # recording

    def record(self, question: Question, outcome: Outcome, answer: str = "") -> datetime:
        """Schedule the card and store the review; returns when it is due next."""
        from fsrs import Card, Rating

        key = self.key(question)
        state = self.progress.quiz_card(key)
        card = Card.from_dict(state) if state else Card()
        rating = Rating[outcome.rating.capitalize()]
        card, _log = self.scheduler.review_card(card, rating, review_datetime=self.now())
        self.progress.record_quiz_review(key, card.to_dict(), card.due.timestamp(), RATINGS.index(outcome.rating) + 1, outcome.correct, answer)
        self.answered.append((question, outcome))
        return card.due

    # results

    def section_score(self, section: str) -> tuple[int, int]:
        """(right, asked) among this session's graded answers in ``section``."""
        graded = [o for q, o in self.answered if q.section == section and o.correct is not None]
        return sum(1 for o in graded if o.correct), len(graded)

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
        right, asked = self.section_score(section)
        total = len([q for q in self.bank.for_section(section) if q.kind != "recall"])
        return asked >= total > 0 and right / total >= self.bank.pass_threshold


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
        rows.append({
            "section": section, "cards": len(questions), "seen": seen,
            "retention": (right / graded) if graded else None, "due_now": due_now,
            "next_due": next_due.isoformat() if next_due else None,
        })
    return rows
