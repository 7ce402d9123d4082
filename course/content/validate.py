"""``course validate --static``: every problem of a content root found without Postgres, each with file
and line (metadata, missing files, hints, quiz), in well under a second.

The graded half (solutions pass, starters and mutants fail, lesson code runs) is
``course.grading.validation``: it needs the grading session.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from course.content.model import ContentError, Exercise, Module, load_module
from course.content.quizbank import QuizBank, load_quiz_bank

MIN_HINTS = 2
MIN_MUTANTS = 1


@dataclass
class Problem:
    path: Path
    message: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.path}{':' + str(self.line) if self.line else ''}: {self.message}"


def content_modules(root: Path) -> tuple[list[Module], list[Problem]]:
    modules, problems = [], []
    lessons = root / "lessons"
    if not lessons.is_dir():
        return [], [Problem(root, "not a content root: no lessons/ folder (expected lessons/, exercises/, quizzes/)")]
    for module_dir in sorted(p for p in lessons.iterdir() if p.is_dir()):
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
    for exercise in module.exercises:
        problems += _exercise_static(exercise)
    return problems


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
