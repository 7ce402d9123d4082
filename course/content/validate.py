"""``course validate --static``: every problem of a content root found without Postgres, each with file
and line (metadata, missing files, hints, quiz), in well under a second.

The graded half (solutions pass, starters and mutants fail, lesson code runs) is
``course.grading.validation``: it needs the grading session.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from course.content.model import ContentError, Exercise, Module, line_of, load_module
from course.content.quizbank import QuizBank, load_quiz_bank

MIN_HINTS = 2
MIN_MUTANTS = 1
SCHEMAS = Path(__file__).parent / "schemas"
"""The JSON Schemas of module.toml, exercise.toml and quiz files (docs/format.md): shipped in the
wheel, loadable by editors (Taplo's ``#:schema`` directive), checked by ``course validate``."""


@dataclass
class Problem:
    path: Path
    message: str
    line: int | None = None
    warning: bool = False
    """Shown, but does not fail the validation (e.g. a trivially weak final gate)."""
    source: str = ""
    """``schema`` for a JSON Schema violation: left out when the loader already reported the file."""

    def __str__(self) -> str:
        return f"{self.path}{':' + str(self.line) if self.line else ''}: {'warning: ' if self.warning else ''}{self.message}"


def schema_problems(path: Path, schema: str) -> list[Problem]:
    """Where ``path`` (a TOML file) breaks ``schemas/<schema>.schema.json``, each with its line."""
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except (OSError, tomllib.TOMLDecodeError):
        return []  # the loader reports a file it cannot read or parse
    validator = Draft202012Validator(json.loads((SCHEMAS / f"{schema}.schema.json").read_text(encoding="utf-8")))
    problems = []
    for error in sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]):
        where = list(error.absolute_path)
        line = _line_for(text, where)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = set(error.schema.get("properties", {})) if isinstance(error.schema, dict) else set()
            unknown = [key for key in error.instance if key not in known]
            line = (_line_for(text, [*where, unknown[0]]) if unknown else None) or line
        shown = ".".join(str(part) for part in where) or "the file"
        problems.append(Problem(path, f"{shown}: {error.message} (schema: {schema}.schema.json)", line, source="schema"))
    return problems


def _line_for(text: str, where: list) -> int | None:
    """The line of a key path (``["question", 3, "kind"]``, ``["mutants", "x", "expect"]``) in TOML
    text: table headers (``[mutants.x]``, the fourth ``[[question]]``) and keys found in order, each
    after the previous (TOML parsers give no positions)."""
    offset, found, dotted = 0, None, list[str]()

    def segments(parts: list[str]) -> str:
        return r"\s*\.\s*".join(rf'"?{re.escape(part)}"?' for part in parts)

    for part in where:
        if isinstance(part, int):
            header = re.compile(rf"^\s*\[\[\s*{segments(dotted)}\s*\]\]", re.MULTILINE)
            matches = list(header.finditer(text, offset))
            if part < len(matches):
                offset = found = matches[part].start()
            continue
        dotted.append(str(part))
        table = re.compile(rf"^\s*\[\[?\s*{segments(dotted)}\s*\]\]?\s*(#.*)?$", re.MULTILINE).search(text, offset)
        if table is not None:
            offset = found = table.start()
            continue
        key = re.compile(rf'^\s*"?{re.escape(str(part))}"?\s*=', re.MULTILINE).search(text, offset)
        if key is not None:  # else a table only named in its sub-tables' headers ([mutants.x]): go on
            found = key.start()
    if found is None:
        return None
    return text.count("\n", 0, found) + len(text[found:]) - len(text[found:].lstrip("\n")) + 1


def merged(problems: list[Problem]) -> list[Problem]:
    """The problems without schema violations of a file the loader already reported (one cause, once)."""
    reported = {p.path for p in problems if p.source != "schema" and not p.warning}
    return [p for p in problems if p.source != "schema" or p.path not in reported]


def failing(problems: list[Problem]) -> list[Problem]:
    """The problems that fail a validation (not the warnings)."""
    return [p for p in problems if not p.warning]


def content_modules(root: Path) -> tuple[list[Module], list[Problem]]:
    modules, problems = [], []
    lessons = root / "lessons"
    if not lessons.is_dir():
        return [], [Problem(root, "not a content root: no lessons/ folder (expected lessons/, exercises/, quizzes/)")]
    for module_dir in sorted(p for p in lessons.iterdir() if p.is_dir()):
        problems += schema_problems(module_dir / "module.toml", "module")
        exercises = root / "exercises" / module_dir.name
        for meta in sorted(exercises.glob("*/exercise.toml")) if exercises.is_dir() else []:
            if not meta.parent.name.startswith((".", "_")):
                problems += schema_problems(meta, "exercise")
        if (root / "quizzes" / f"{module_dir.name}.toml").is_file():
            problems += schema_problems(root / "quizzes" / f"{module_dir.name}.toml", "quiz")
        try:
            module = load_module(root, module_dir.name)
        except ContentError as error:
            problems.append(Problem(error.path, error.message, error.line))
            continue
        problems += [Problem(e.path, e.message, e.line) for e in module.problems]
        modules.append(module)
    return modules, problems


def static_problems(module: Module) -> list[Problem]:
    problems = []
    for section in module.sections:
        if not section.lesson.is_file():
            problems.append(Problem(section.lesson, f"section {section.id} has no lesson file"))
    try:
        bank = load_quiz_bank(module.quiz, {s.id for s in module.sections})
    except ContentError as error:
        problems.append(Problem(error.path, error.message, error.line))
    else:
        for section in module.sections:
            if not bank.for_section(section.id):
                problems.append(Problem(module.quiz, f"section {section.id} has no quiz questions"))
        problems += quiz_balance_problems(bank)
        problems += gate_warnings(module, bank)
    for exercise in module.exercises:
        problems += _exercise_static(exercise)
    return problems


def gate_warnings(module: Module, bank: QuizBank) -> list[Problem]:
    """A final gate a learner passes without knowing much: what ``course.quiz.gate`` finds weak
    (docs/format.md, "The final section's gate"), as warnings; and a module completed by the quiz
    alone although it has exercises, said once so the instructor knows the rule."""
    from course.quiz.gate import gate_problems, load_gate

    meta = module.root / "lessons" / module.id / "module.toml"
    try:
        config = load_gate(bank, module.id)
    except ContentError as error:
        return [Problem(error.path, error.message, error.line)]
    text = meta.read_text(encoding="utf-8")
    try:
        gate = tomllib.loads(text).get("gate", {})
    except tomllib.TOMLDecodeError:
        gate = {}
    line = line_of(text, "gate")
    warnings = []
    weak = gate_problems(bank, config)
    if weak:
        more = f" (and {len(weak) - 3} more)" if len(weak) > 3 else ""
        warnings.append(Problem(meta, f"the final gate is weak: {'; '.join(weak[:3])}{more}", line, warning=True))
    if module.exercises and not (isinstance(gate, dict) and "exercises" in gate):
        warnings.append(
            Problem(
                meta,
                "the module completes on its final quiz alone, even with its exercises failing: say so with "
                "exercises = false under [gate], or require them with exercises = true (docs/format.md)",
                line,
                warning=True,
            )
        )
    return warnings


MAX_LONGEST_SHARE = 0.35
"""At most this share of single-answer questions may have the longest choice as the right one."""
MAX_POSITION_EXCESS = 0.15
"""How far above its fair share one position may hold the right answer, in the file's order."""
MIN_BALANCE_SAMPLE = 6
"""Fewer single-answer questions than this are too few to judge the balance of."""


def quiz_balance_problems(bank: QuizBank) -> list[Problem]:
    """A bank a blind guesser can beat: the right answer is too often the longest choice, or too
    often at one position (choices are shuffled when shown, but the file should not lean either)."""
    single = [q for q in bank.questions if q.kind == "choice" and len(q.correct) == 1]
    if len(single) < MIN_BALANCE_SAMPLE:
        return []
    problems = []
    longest = [q for q in single if len(q.choice(q.correct[0]).text) >= max(len(c.text) for c in q.choices)]
    if len(longest) / len(single) > MAX_LONGEST_SHARE:
        problems.append(
            Problem(
                bank.path,
                (
                    f"the right answer is the longest choice in {len(longest)} of {len(single)} single-answer questions "
                    f"(at most {MAX_LONGEST_SHARE:.0%}): a learner who picks the longest wins; e.g. {', '.join(q.id for q in longest[:3])}"
                ),
            )
        )
    for position in range(max(len(q.choices) for q in single)):
        fair = sum(1 / len(q.choices) for q in single if len(q.choices) > position) / len(single)
        held = sum(1 for q in single if [c.id for c in q.choices].index(q.correct[0]) == position) / len(single)
        if held - fair > MAX_POSITION_EXCESS:
            problems.append(
                Problem(
                    bank.path,
                    (
                        f"the right answer is choice {'abcdefghij'[position]} in {held:.0%} of single-answer questions "
                        f"(a fair share is {fair:.0%}): spread the right answers over the positions"
                    ),
                )
            )
    return problems


def _exercise_static(exercise: Exercise) -> list[Problem]:
    meta = exercise.path / "exercise.toml"
    problems = []
    if len([h for h in exercise.hints if h.strip()]) < MIN_HINTS:
        problems.append(Problem(meta, f"needs at least {MIN_HINTS} hints (has {len(exercise.hints)})"))
    if len(exercise.mutants) < MIN_MUTANTS:
        problems.append(Problem(meta, "has no mutants: add [mutants.<name>] with a classic mistake each"))
    if not exercise.checks_file.is_file():
        problems.append(Problem(exercise.checks_file, "missing: the exercise has no checks"))
    for folder in (exercise.starter_dir, exercise.solution_dir):
        for name in exercise.files:
            if not (folder / name).exists():
                problems.append(Problem(folder / name, f"missing: {name} is listed in exercise.toml"))
    for kind, entries in (("mutants", exercise.mutants), ("variants", exercise.variants)):
        for name in entries:
            if not (exercise.path / kind / name).is_dir():
                problems.append(Problem(exercise.path / kind / name, f"missing: {kind}.{name} is declared in exercise.toml"))
        for folder in sorted((exercise.path / kind).glob("*")) if (exercise.path / kind).is_dir() else []:
            if folder.is_dir() and folder.name not in entries:
                problems.append(Problem(folder, f"not declared in exercise.toml: add [{kind}.{folder.name}]"))
    return problems
