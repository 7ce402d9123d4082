"""The quiz bank of a module (``quizzes/<module>.toml``) as plain dataclasses, strictly validated.

Kinds: ``choice`` (one or several correct answers), ``recall`` (free recall with a model
answer, self-graded) and ``sql`` ("predict the SQL": a 2.0 statement whose PostgreSQL
compilation is the expected answer). Problems are reported with file and line.

Every choice has a stable ``id`` (given in the file, or made from its text): answers are stored
by it, so choices can be shuffled, reordered or reworded without losing a learner's history.
``correct`` lists the ids (or the texts) of the right choices. A recall question can list
``must_mention``: the terms an answer has to contain (each a list of accepted spellings) for it
to count in the module's final check, where self-grading alone would let anyone through.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from course.content.model import ContentError, _check_keys, _read_toml, line_of

GATE_QUESTION_KEYS = {"group", "concept", "taught_in"}
"""Optional on every question; used by the final section's gate (``course.quiz.gate``): ``group``
names the concept several variants ask (one variant per group is drawn), ``concept`` is what the
learner is told they missed, ``taught_in`` the section whose lesson teaches it."""

QUESTION_KEYS = {
    "choice": (
        {"id", "section", "kind", "prompt", "correct", "explanation", "choices"} | GATE_QUESTION_KEYS,
        {"id", "section", "kind", "prompt", "correct", "explanation", "choices"},
    ),
    "recall": (
        {"id", "section", "kind", "prompt", "answer", "explanation", "must_mention"} | GATE_QUESTION_KEYS,
        {"id", "section", "kind", "prompt", "answer", "explanation"},
    ),
    "sql": (
        {"id", "section", "kind", "prompt", "statement", "explanation"} | GATE_QUESTION_KEYS,
        {"id", "section", "kind", "prompt", "statement", "explanation"},
    ),
}


@dataclass
class Choice:
    text: str
    feedback: str = ""
    id: str = ""
    """Stable: what the progress store records when this choice is picked."""

    def __post_init__(self):
        self.id = self.id or choice_id(self.text)


def choice_id(text: str) -> str:
    """The id of a choice that has none in the file: its first words, lower-case."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    return "-".join(words[:6]) or "choice"


@dataclass
class Question:
    id: str
    section: str
    kind: str
    prompt: str
    explanation: str
    choices: list[Choice] = field(default_factory=list)
    correct: list[str] = field(default_factory=list)
    """The ids of the right choices."""
    answer: str = ""
    statement: str = ""
    must_mention: list[list[str]] = field(default_factory=list)
    group: str = ""
    concept: str = ""
    taught_in: str = ""

    @property
    def multiple(self) -> bool:
        return len(self.correct) > 1

    def choice(self, choice_id: str) -> Choice:
        return next(c for c in self.choices if c.id == choice_id)

    def correct_texts(self) -> list[str]:
        return [self.choice(i).text for i in self.correct]


@dataclass
class QuizBank:
    path: Path
    questions: list[Question]
    pass_threshold: float = 0.8
    sql_setup: str = ""

    def for_section(self, section: str) -> list[Question]:
        return [q for q in self.questions if q.section == section]


def load_quiz_bank(path: Path, sections: set[str] | None = None) -> QuizBank:
    """Load and validate; raises :class:`ContentError` for the first problem found."""
    data, text = _read_toml(path)
    _check_keys(data, {"pass_threshold", "sql", "question"}, {"question"}, path, text)
    threshold = data.get("pass_threshold", 0.8)
    if not isinstance(threshold, int | float) or not 0 < threshold <= 1:
        raise ContentError(path, "pass_threshold must be a number in (0, 1]", line_of(text, "pass_threshold"))
    setup = data.get("sql", {}).get("setup", "")
    questions, seen = [], set()
    for entry in data["question"]:
        kind = entry.get("kind")
        qid = entry.get("id", "?")
        line = line_of(text, "id") if qid == "?" else _line_of_id(text, qid)
        if kind not in QUESTION_KEYS:
            raise ContentError(path, f"question {qid!r}: kind must be one of {', '.join(QUESTION_KEYS)}", line)
        allowed, required = QUESTION_KEYS[kind]
        try:
            _check_keys(entry, allowed, required, path, text, f"question {qid!r}: ")
        except ContentError as error:
            raise ContentError(path, error.message, error.line or line) from None
        if qid in seen:
            raise ContentError(path, f"two questions have the id {qid!r}", line)
        seen.add(qid)
        if sections is not None and entry["section"] not in sections:
            raise ContentError(path, f"question {qid!r}: unknown section {entry['section']!r}", line)
        choices, correct = [], []
        if kind == "choice":
            for choice in entry["choices"]:
                _check_keys(choice, {"id", "text", "feedback"}, {"text"}, path, text, f"question {qid!r} choice: ")
                choices.append(Choice(choice["text"], choice.get("feedback", ""), choice.get("id", "")))
            if len(choices) < 2:
                raise ContentError(path, f"question {qid!r}: a choice question needs at least two choices", line)
            ids = [c.id for c in choices]
            if len(set(ids)) != len(ids):
                raise ContentError(
                    path, f"question {qid!r}: two choices have the id {next(i for i in ids if ids.count(i) > 1)!r}", line
                )
            by_text = {c.text: c.id for c in choices}
            correct = [answer if answer in ids else by_text.get(answer, answer) for answer in entry["correct"]]
            missing = [answer for answer, cid in zip(entry["correct"], correct, strict=True) if cid not in ids]
            if missing or not entry["correct"]:
                raise ContentError(path, f"question {qid!r}: correct answer(s) {missing or '[]'} are not among the choices", line)
        must_mention = [[term] if isinstance(term, str) else list(term) for term in entry.get("must_mention", [])]
        if any(not group or not all(isinstance(t, str) and t.strip() for t in group) for group in must_mention):
            raise ContentError(
                path, f"question {qid!r}: must_mention lists terms (strings, or lists of accepted spellings)", line
            )
        for key in GATE_QUESTION_KEYS:
            if key in entry and (not isinstance(entry[key], str) or not entry[key].strip()):
                raise ContentError(path, f"question {qid!r}: {key} must be a non-empty string", line)
        if sections is not None and entry.get("taught_in", entry["section"]) not in sections:
            raise ContentError(path, f"question {qid!r}: taught_in names an unknown section {entry['taught_in']!r}", line)
        questions.append(
            Question(
                id=qid,
                section=entry["section"],
                kind=kind,
                prompt=entry["prompt"],
                explanation=entry["explanation"],
                choices=choices,
                correct=correct,
                answer=entry.get("answer", ""),
                statement=entry.get("statement", ""),
                must_mention=must_mention,
                group=entry.get("group", ""),
                concept=entry.get("concept", ""),
                taught_in=entry.get("taught_in", ""),
            )
        )
    bank = QuizBank(path, questions, float(threshold), setup)
    if sections is not None:  # a module's bank: the [gate] of its module.toml must be readable too
        from course.quiz.gate import load_gate

        load_gate(bank, path.stem)
    return bank


def _line_of_id(text: str, qid: str) -> int | None:
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip().startswith("id") and f'"{qid}"' in line:
            return number
    return None
