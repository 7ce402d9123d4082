"""The module's final-section gate: what completes a module, configured in ``module.toml``'s ``[gate]``.

An attempt at the final section shows ``questions`` questions drawn from the section's pool: one
variant of each group (questions sharing a ``group`` in the bank ask the same concept another way),
the least-shown groups and variants first, so a retake draws others. Every draw holds enough
questions the learner must *produce* (predict-the-SQL, free recall with key terms) that choices alone,
however well remembered, stay below ``pass_share``.

While an attempt runs nothing is given away: no verdict per question, no correct choice, no real
SQL, no key terms. At the end the learner sees the score and, for a failed attempt, the concepts
missed and the lesson that teaches each.

The module is complete when the final section has been passed twice, the second time at least
``later_day`` days after the first (recall on a later day: the cards, scheduled by FSRS, are due
again by then), and — with ``exercises = true`` — every exercise of the module passed.

Defaults: ``section`` the module's last section, ``questions`` 9, ``pass_share`` the quiz bank's
``pass_threshold`` (0.8), ``later_day`` 1, ``exercises`` false.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from course.content.model import ContentError, line_of
from course.content.quizbank import Question, QuizBank
from course.learner.progress import Progress

GATE_KEYS = {"section", "questions", "pass_share", "later_day", "exercises"}
DEFAULT_QUESTIONS = 9
DEFAULT_LATER_DAY = 1


@dataclass(frozen=True)
class GateConfig:
    section: str
    questions: int = DEFAULT_QUESTIONS
    pass_share: float = 0.8
    later_day: float = DEFAULT_LATER_DAY
    """Days between the first pass and the pass that completes the module (0: one pass is enough)."""
    exercises: bool = False
    exercise_ids: tuple[str, ...] = ()
    """The module's exercises (full ids), needed passed when ``exercises`` is true."""
    titles: dict[str, str] = field(default_factory=dict)
    """Section id -> "N · title", to point at the lesson that teaches a missed concept."""

    def needed_producing(self, shown: int | None = None) -> int:
        """How many produce-the-answer questions a draw needs so that choices alone cannot pass."""
        count = shown if shown is not None else self.questions
        return math.floor((1 - self.pass_share) * count + 1e-9) + 1


def produces(question: Question) -> bool:
    """A question answered by producing the answer (SQL, or recall graded by its key terms)."""
    return question.kind == "sql" or (question.kind == "recall" and bool(question.must_mention))


def load_gate(bank: QuizBank, module_id: str) -> GateConfig:
    """The gate of ``module_id``: ``[gate]`` of ``lessons/<module>/module.toml`` beside the bank's
    ``quizzes/`` folder, with the defaults above. Raises :class:`ContentError` for a bad table."""
    meta = bank.path.parent.parent / "lessons" / module_id / "module.toml"
    sections = list(dict.fromkeys(q.section for q in bank.questions))
    data: dict = {}
    text = ""
    if meta.is_file():
        text = meta.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    order: list[str] = [str(entry["id"]) for entry in data.get("sections", []) if isinstance(entry, dict) and "id" in entry]
    order = order or sections
    titles = {
        entry["id"]: f"{number} · {entry.get('title', entry['id'])}"
        for number, entry in enumerate(data.get("sections", []), 1)
        if isinstance(entry, dict) and "id" in entry
    }
    gate = data.get("gate", {})
    if not isinstance(gate, dict):
        raise ContentError(meta, "[gate] must be a table", line_of(text, "gate"))
    unknown = set(gate) - GATE_KEYS
    if unknown:
        raise ContentError(meta, f"[gate]: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(GATE_KEYS))}")

    def bad(key: str, what: str) -> ContentError:
        return ContentError(meta, f"[gate] {key} must be {what}", line_of(text, key))

    section = gate.get("section", order[-1] if order else "")
    if not isinstance(section, str) or (order and section not in order):
        raise bad("section", f"one of the module's sections ({', '.join(order)})")
    questions = gate.get("questions", DEFAULT_QUESTIONS)
    if not isinstance(questions, int) or isinstance(questions, bool) or questions < 1:
        raise bad("questions", "a whole number of at least 1")
    share = gate.get("pass_share", bank.pass_threshold)
    if not isinstance(share, int | float) or isinstance(share, bool) or not 0 < share <= 1:
        raise bad("pass_share", "a number in (0, 1]")
    later = gate.get("later_day", DEFAULT_LATER_DAY)
    if not isinstance(later, int | float) or isinstance(later, bool) or later < 0:
        raise bad("later_day", "a number of days, 0 or more")
    exercises = gate.get("exercises", False)
    if not isinstance(exercises, bool):
        raise bad("exercises", "true or false")
    exercise_ids: tuple[str, ...] = ()
    if exercises:
        root = bank.path.parent.parent / "exercises" / module_id
        exercise_ids = tuple(
            f"{module_id}/{path.parent.name}" for path in sorted(root.glob("*/exercise.toml")) if path.parent.name[0] not in "._"
        )
    return GateConfig(section, questions, float(share), float(later), exercises, exercise_ids, titles)


# -- the state: attempts and passes, in the progress store's settings ---------------------------


def _key(module_id: str) -> str:
    return f"gate:{module_id}"


def gate_state(progress: Progress, module_id: str) -> dict:
    """``{"attempts": [{"at", "shown", "right", "passed"}...]}`` (empty for a store that never saw a gate)."""
    raw = progress.get(_key(module_id))
    try:
        state = json.loads(raw) if raw else {}
    except ValueError:
        state = {}
    state.setdefault("attempts", [])
    return state


def record_attempt(progress: Progress, module_id: str, at: datetime, shown: list[str], right: int, passed: bool) -> dict:
    state = gate_state(progress, module_id)
    state["attempts"].append({"at": at.isoformat(), "shown": shown, "right": right, "passed": passed})
    progress.set(_key(module_id), json.dumps(state))
    return state


def passes(state: dict) -> list[datetime]:
    return [datetime.fromisoformat(a["at"]) for a in state["attempts"] if a.get("passed")]


def recall_proven(state: dict, config: GateConfig) -> bool:
    """Passed once, and passed again at least ``later_day`` days after that first pass."""
    times = passes(state)
    if not times:
        return False
    if config.later_day <= 0:
        return True
    return any(later - times[0] >= timedelta(days=config.later_day) for later in times[1:])


def shown_counts(state: dict) -> dict[str, int]:
    counts: dict[str, int] = {}
    for attempt in state["attempts"]:
        for qid in attempt.get("shown", []):
            counts[qid] = counts.get(qid, 0) + 1
    return counts


def groups(bank: QuizBank, section: str) -> dict[str, list[Question]]:
    """The final section's pool: group -> its variants, in the bank's order."""
    pool: dict[str, list[Question]] = {}
    for question in bank.for_section(section):
        pool.setdefault(question.group or question.id, []).append(question)
    return pool


def lesson_of(config: GateConfig, question: Question) -> str:
    section = question.taught_in or question.section
    return config.titles.get(section, section)


def gate_file(bank: QuizBank, module_id: str) -> Path:
    return bank.path.parent.parent / "lessons" / module_id / "module.toml"


def gate_problems(bank: QuizBank, config: GateConfig) -> list[str]:
    """What makes a gate weak: a pool no larger than an attempt, a group without a second variant,
    too few produce-the-answer groups for choices alone to stay below ``pass_share``, a question
    without the ``concept`` and ``taught_in`` its feedback names."""
    pool = groups(bank, config.section)
    problems = []
    if len(pool) <= config.questions:
        problems.append(
            f"the final section has {len(pool)} question groups; a retake needs more than the {config.questions} shown"
        )
    problems += [f"group {name!r} has one variant; give it at least two" for name, variants in pool.items() if len(variants) < 2]
    producing = [name for name, variants in pool.items() if all(produces(q) for q in variants)]
    if len(producing) < config.needed_producing():
        problems.append(
            f"{len(producing)} group(s) ask to produce the answer (sql, or recall with must_mention); "
            f"{config.needed_producing()} are needed so that remembered choices alone cannot pass"
        )
    for question in bank.for_section(config.section):
        if not question.concept or not question.taught_in or question.taught_in == config.section:
            problems.append(f"question {question.id!r}: give it a concept and the section that teaches it (taught_in)")
        for group in question.must_mention:
            if any(term.lower() in question.concept.lower() for term in group):
                problems.append(f"question {question.id!r}: its concept names a must_mention term ({group[0]!r})")
    return problems
