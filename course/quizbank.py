"""The quiz bank of a module (``quizzes/<module>.toml``) as plain dataclasses, strictly validated.

Kinds: ``choice`` (one or several correct answers), ``recall`` (free recall with a model
answer, self-graded) and ``sql`` ("predict the SQL": a 2.0 statement whose PostgreSQL
compilation is the expected answer). Problems are reported with file and line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from course.content import ContentError, _check_keys, _read_toml, line_of

QUESTION_KEYS = {
    "choice": ({"id", "section", "kind", "prompt", "correct", "explanation", "choices"}, {"id", "section", "kind", "prompt", "correct", "explanation", "choices"}),
    "recall": ({"id", "section", "kind", "prompt", "answer", "explanation"}, {"id", "section", "kind", "prompt", "answer", "explanation"}),
    "sql": ({"id", "section", "kind", "prompt", "statement", "explanation"}, {"id", "section", "kind", "prompt", "statement", "explanation"}),
}


@dataclass
class Choice:
    text: str
    feedback: str = ""


@dataclass
class Question:
    id: str
    section: str
    kind: str
    prompt: str
    explanation: str
    choices: list[Choice] = field(default_factory=list)
    correct: list[str] = field(default_factory=list)
    answer: str = ""
    statement: str = ""

    @property
    def multiple(self) -> bool:
        return len(self.correct) > 1


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
        choices = []
        if kind == "choice":
            for choice in entry["choices"]:
                _check_keys(choice, {"text", "feedback"}, {"text"}, path, text, f"question {qid!r} choice: ")
                choices.append(Choice(choice["text"], choice.get("feedback", "")))
            texts = [c.text for c in choices]
            if len(choices) < 2:
                raise ContentError(path, f"question {qid!r}: a choice question needs at least two choices", line)
            missing = [answer for answer in entry["correct"] if answer not in texts]
            if missing or not entry["correct"]:
                raise ContentError(path, f"question {qid!r}: correct answer(s) {missing or '[]'} are not among the choices", line)
        questions.append(Question(
            id=qid, section=entry["section"], kind=kind, prompt=entry["prompt"], explanation=entry["explanation"],
            choices=choices, correct=list(entry.get("correct", [])), answer=entry.get("answer", ""),
            statement=entry.get("statement", ""),
        ))
    return QuizBank(path, questions, float(threshold), setup)


def _line_of_id(text: str, qid: str) -> int | None:
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip().startswith("id") and f'"{qid}"' in line:
            return number
    return None
