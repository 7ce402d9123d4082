"""Self-check quizzes with spaced repetition: the engine shared by ``course quiz`` and the TUI.

Scheduling is FSRS (the ``fsrs`` package, the scheduler Anki ships): each card's memory state
and due time live in the progress store. Choice and "predict the SQL" answers are graded here
(choices shown in a fresh order each time, SQL compared by meaning: ``course.quiz.sql``);
free-recall answers are graded by the learner (again / hard / good / easy), retrieval first —
and, where a question lists ``must_mention`` terms, by whether the typed answer names them.

The final section is the module's gate (``course.quiz.gate``): its questions are drawn from a pool,
answered without feedback that would hand a retake its answers, and the module completes only after
a second pass on a later day.
"""

from __future__ import annotations

import os
import random
import re
import sys
import types
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, cast

from course.content.quizbank import Choice, Question, QuizBank
from course.learner.progress import Progress
from course.quiz import gate as gates
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
    gate: list[str] = field(default_factory=list)
    """When the session held an attempt at the final section: how it went, the concepts missed and
    the lessons that teach them, and what completion still needs (lines of Markdown)."""

    def describe(self) -> str:
        return f"{self.answered} answered" + (f", {self.right}/{self.graded} right" if self.graded else "")


class QuizSession:
    """Pick questions, grade answers, schedule the next review, keep score."""

    def __init__(
        self,
        bank: QuizBank,
        progress: Progress,
        module_id: str,
        now=lambda: datetime.now(UTC),
        seed: int | None = None,
        gate: gates.GateConfig | None = None,
    ):
        """``seed`` fixes the order choices are shuffled in, so an order can be reproduced (default:
        ``COURSE_QUIZ_SEED`` when set, else a fresh order every time). ``gate``: the final section's
        gate (default: read from the module's ``module.toml``); ``now``: the clock (injectable)."""
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
        self._gate = gate
        self.drawn: list[Question] = []
        self._attempt_lines: list[str] = []
        """The final-section questions drawn for this session's attempt (empty until drawn)."""

    @property
    def gate(self) -> gates.GateConfig:
        if self._gate is None:
            self._gate = gates.load_gate(self.bank, self.module_id)
        return self._gate

    def hides(self, question: Question) -> bool:
        """True for a question of the gate: no verdict, correct answer, SQL or key terms shown."""
        return question.section == self.gate.section

    def draw(self) -> list[Question]:
        """One attempt at the final section: ``questions`` groups, one variant each, least shown first
        (due first among equals), with enough produce-the-answer questions that choices cannot pass."""
        if self.drawn:
            return self.drawn
        config = self.gate
        counts = gates.shown_counts(gates.gate_state(self.progress, self.module_id))
        now = self.now()
        pool = gates.groups(self.bank, config.section)
        jitter = {q.id: self.rng.random() for variants in pool.values() for q in variants}

        def variant_key(question: Question):
            due = self.due_at(question)
            return (counts.get(question.id, 0), 0 if due is None or due <= now else 1, jitter[question.id])

        chosen = {name: min(variants, key=variant_key) for name, variants in pool.items()}

        def group_key(name: str):
            return (sum(counts.get(q.id, 0) for q in pool[name]), jitter[chosen[name].id])

        count = min(config.questions, len(pool))
        producing = sorted((n for n in pool if gates.produces(chosen[n])), key=group_key)
        picked = producing[: min(config.needed_producing(count), len(producing))]
        rest = sorted((n for n in pool if n not in picked), key=group_key)
        picked += rest[: count - len(picked)]
        self.drawn = [chosen[name] for name in picked]
        self.rng.shuffle(self.drawn)
        return self.drawn

    def prepare(self, questions: list[Question]) -> list[Question]:
        """``questions`` to ask, the final section's replaced by one drawn attempt (the pool is never
        shown whole)."""
        if not any(self.hides(q) for q in questions):
            return list(questions)
        kept = [q for q in questions if not self.hides(q)]
        return kept + self.draw()

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
        if section == self.gate.section:
            return list(self.draw())
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
        if self.hides(question):
            notes = []
        elif not right and missed and question.multiple:
            notes.append("Also correct: " + "; ".join(missed))
        order = [c.id for c in (shown or question.choices)]
        return Outcome(right, "good" if right else "again", notes, picked=ids, shown=order)

    def grade_sql(self, question: Question, typed: str) -> Outcome:
        expected = self.sql.expected(question)
        verdict = judge(expected, typed, self.sql.schema())
        notes = [] if verdict.same else ([verdict.problem] if verdict.problem else differences(verdict.expected, verdict.typed))
        if self.hides(question):
            notes = []
        return Outcome(verdict.same, "good" if verdict.same else "again", notes, expected, sql=verdict)

    def grade_recall(self, question: Question, rating: str, typed: str = "") -> Outcome:
        """The learner's own rating; with ``must_mention`` terms, the typed answer must name them too."""
        if rating not in RATINGS:
            raise ValueError(f"rating must be one of {RATINGS}")
        if not question.must_mention:
            return Outcome(None, rating)
        missing = missing_terms(question, typed)
        notes = [f"Your answer does not mention {', '.join(f'`{group[0]}`' for group in missing)}."] if missing else []
        if self.hides(question):
            notes = []
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

    def finish(self, final_section: str | None = None) -> Summary:
        """The session's score. When the session answered a whole drawn attempt at the final section
        (``final_section`` is the caller's name for it; the gate's own setting wins), the attempt is
        recorded, and the module is recorded complete when the gate's conditions hold."""
        right = sum(1 for _, o in self.answered if o.correct)
        graded = sum(1 for _, o in self.answered if o.correct is not None)
        lines = self._close_attempt()
        completed = bool(lines) and self.completes_module() and self.module_complete()
        if completed and not self.progress.get(f"module-complete:{self.module_id}"):
            self.progress.set(f"module-complete:{self.module_id}", self.now().isoformat())
        return Summary(len(self.answered), right, graded, completed, lines)

    def attempt_outcomes(self) -> dict[str, Outcome] | None:
        """The latest outcome of each drawn question, when every one of them was answered."""
        latest = {q.id: o for q, o in self.answered if self.hides(q)}
        if not self.drawn or any(q.id not in latest for q in self.drawn):
            return None
        return {q.id: latest[q.id] for q in self.drawn}

    def completes_module(self, section: str | None = None) -> bool:
        """True when this session's drawn attempt at the final section passes (one of the gate's
        conditions; :meth:`module_complete` tells whether all hold)."""
        outcomes = self.attempt_outcomes()
        return outcomes is not None and attempt_passes(self.drawn, outcomes, self.gate.pass_share)

    def module_complete(self) -> bool:
        """Every condition of the gate: passed, passed again on a later day, exercises (if asked)."""
        state = gates.gate_state(self.progress, self.module_id)
        return gates.recall_proven(state, self.gate) and not self.exercises_missing()

    def exercises_missing(self) -> list[str]:
        if not self.gate.exercises:
            return []
        return [e for e in self.gate.exercise_ids if not self.progress.ever_passed(e)]

    def _close_attempt(self) -> list[str]:
        if self._attempt_lines:  # finish() called again: the attempt is recorded once
            return self._attempt_lines
        outcomes = self.attempt_outcomes()
        if outcomes is None:
            return []
        config = self.gate
        right = sum(1 for o in outcomes.values() if o.counts_as_right)
        passed = attempt_passes(self.drawn, outcomes, config.pass_share)
        now = self.now()
        state = gates.record_attempt(self.progress, self.module_id, now, [q.id for q in self.drawn], right, passed)
        lines = [
            f"Final check: {right}/{len(self.drawn)} right ({'passed' if passed else 'not passed'}; {config.pass_share:.0%} needed)."
        ]
        missed = [q for q in self.drawn if not outcomes[q.id].counts_as_right]
        if missed:
            lines.append("Concepts to review (the next attempt asks them differently):")
            seen = set()
            for question in missed:
                line = f"- {question.concept or question.group or question.id} — lesson {gates.lesson_of(config, question)}"
                if line not in seen:
                    seen.add(line)
                    lines.append(line)
        times = gates.passes(state)
        if passed and not gates.recall_proven(state, config):
            ready = times[0] + timedelta(days=config.later_day)
            lines.append(
                f"Passed once. To complete the module, pass the final check again on a later day "
                f"(from {ready:%Y-%m-%d %H:%M} UTC): recall after a pause is what proves it."
            )
        missing = self.exercises_missing()
        if passed and missing:
            lines.append(f"The module also needs its exercises passed; not yet: {', '.join(m.split('/')[-1] for m in missing)}.")
        self._attempt_lines = lines
        return lines

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


def attempt_passes(drawn: list[Question], outcomes: dict[str, Outcome], pass_share: float) -> bool:
    """A drawn attempt passes: every question answered and the share right at least ``pass_share``."""
    if not drawn or any(q.id not in outcomes for q in drawn):
        return False
    return sum(1 for q in drawn if outcomes[q.id].counts_as_right) / len(drawn) >= pass_share - 1e-9


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
