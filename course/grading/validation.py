"""`course validate` with Postgres: the static problems, then each exercise graded (starter fails, solution
and variants pass, mutants fail) and the graders mutation-tested (`--mutate`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from course.content.model import Exercise, Module
from course.content.validate import Problem, content_modules, merged, static_problems

if TYPE_CHECKING:
    from course.grading.session import GradingSession


@dataclass
class Kill:
    """One row of the kill matrix (``course validate --mutate -v``): a mutant and what killed it."""

    exercise: str
    mutant: str
    """``mutants/<name>`` (written by hand) or the generated mutant's description."""
    killed_by: list[str]
    """The checks that failed on it (empty: it survived)."""
    verdict: str
    """``killed``, ``survived``, ``equivalent``, ``wrong check`` or ``wrong message``."""
    why: str = ""

    def __str__(self) -> str:
        by = f" by {', '.join(self.killed_by)}" if self.killed_by else ""
        return f"{self.exercise}  {self.mutant}: {self.verdict}{by}{f' ({self.why})' if self.why else ''}"


def graded_problems(
    module: Module,
    grading: GradingSession,
    progress: Callable[[str], None] = lambda _: None,
    only: list[Exercise] | None = None,
    matrix: list[Kill] | None = None,
) -> list[Problem]:
    """Grade solution, starter, mutants and variants of every exercise (or of ``only``); run every
    lesson's code (or the lessons of ``only``'s sections). Each hand-written mutant's fate goes to
    ``matrix`` when given."""
    from course.content.lessoncode import run_lesson
    from course.grading.session import job_for, materialised

    problems = []
    matrix = matrix if matrix is not None else []
    for exercise in only if only is not None else module.exercises:
        meta = exercise.path / "exercise.toml"
        cases = [
            "solution",
            "starter",
            *(f"mutants/{m}" for m in exercise.mutants),
            *(f"variants/{v}" for v in exercise.variants),
        ]
        for case in cases:
            progress(f"{exercise.id}: {case}")
            if case != "solution" and case != "starter" and not (exercise.path / case).is_dir():
                continue
            with materialised(exercise, case) as folder:
                result = grading.grade(job_for(exercise, folder))
            failing = [c for c in result.checks if c.status != "pass"]
            summary = "; ".join(f"{c.name}: {c.message.splitlines()[0] if c.message else c.status}" for c in failing[:3])
            if case == "solution" and failing:
                problems.append(Problem(exercise.solution_dir, f"the reference solution fails: {summary}"))
            elif case == "starter" and not failing:
                problems.append(Problem(exercise.starter_dir, "the starter already passes every check"))
            elif case.startswith("variants/") and failing:
                problems.append(Problem(exercise.path / case, f"this correct variant is rejected: {summary}"))
            elif case.startswith("mutants/"):
                mutant = exercise.mutants[case.split("/", 1)[1]]
                names = {c.name for c in result.checks}
                caught = {c.name for c in failing}
                matrix.append(_written_kill(exercise, case, mutant, result, sorted(caught)))
                if mutant.expect not in names:
                    problems.append(
                        Problem(
                            meta,
                            f"mutants.{mutant.name}: expect names no check ({mutant.expect!r}); checks: {', '.join(sorted(names))}",
                        )
                    )
                elif not failing:
                    problems.append(
                        Problem(exercise.path / case, f"this mutant is not rejected (expected {mutant.expect} to fail)")
                    )
                elif mutant.expect not in caught:
                    problems.append(
                        Problem(
                            exercise.path / case, f"rejected by {', '.join(sorted(caught))}, not by {mutant.expect} as declared"
                        )
                    )
                elif mutant.diagnosis:
                    message = next(c.message for c in result.checks if c.name == mutant.expect)
                    if mutant.diagnosis.lower() not in message.lower():
                        problems.append(
                            Problem(
                                exercise.path / case,
                                f"the message of {mutant.expect} does not name the mistake ({mutant.diagnosis!r}): {message.splitlines()[0] if message else ''}",
                            )
                        )
    sections = {e.section for e in only} if only is not None else None
    for section in module.sections:
        if not section.lesson.is_file() or (sections is not None and section.id not in sections):
            continue
        progress(f"lesson {section.lesson.name}")
        databases = grading.databases
        database = databases.create_database()
        try:
            failure = run_lesson(section.lesson, databases.learner_params(database).sqlalchemy_url())
        finally:
            databases.drop_database(database)
        if failure is not None:
            problems.append(Problem(section.lesson, f"this code block does not run: {failure[1]}", failure[0]))
    return problems


def _written_kill(exercise: Exercise, case: str, mutant, result, caught: list[str]) -> Kill:
    if not caught:
        return Kill(exercise.id, case, [], "survived", f"every check passes; {mutant.expect} was expected to fail")
    if mutant.expect not in caught:
        return Kill(exercise.id, case, caught, "wrong check", f"{mutant.expect} was expected")
    message = next((c.message for c in result.checks if c.name == mutant.expect), "")
    if mutant.diagnosis and mutant.diagnosis.lower() not in message.lower():
        return Kill(exercise.id, case, caught, "wrong message", f"{mutant.expect}'s message lacks {mutant.diagnosis!r}")
    return Kill(exercise.id, case, caught, "killed")


def select(root: Path, query: str | None) -> tuple[list[Module], list[tuple[Module, list[Exercise] | None]], list[Problem]]:
    """The modules of ``root`` and what ``query`` selects in them: a module id (all of it), an
    exercise id (short, full, or ``module/short``), or everything (``None``). A query that matches
    nothing, or several exercises, is a problem naming the choices."""
    from course.content.model import ExerciseNotFound, find_exercise

    modules, problems = content_modules(root)
    if not query:
        return modules, [(module, None) for module in modules], problems
    by_id = {module.id: module for module in modules}
    if query.strip("/") in by_id:
        return modules, [(by_id[query.strip("/")], None)], problems
    try:
        found = find_exercise(modules, query)
    except ExerciseNotFound as error:
        if "several" in str(error):
            return modules, [], problems + [Problem(root, str(error))]
        ids = ", ".join(f"{m.id}/{e.id}" for m in modules for e in m.exercises[:3]) or "none"
        message = (
            f"{query!r} is neither a folder nor a module or exercise of {root} "
            f"(modules: {', '.join(by_id) or 'none'}; exercises e.g. {ids}); fix: give the content folder, "
            "a module id, or an exercise id"
        )
        return modules, [], problems + [Problem(root, message)]
    if not isinstance(found, Exercise):
        return modules, [], problems + [Problem(root, f"{query!r} is a quiz-only section: it has no exercise to validate")]
    return modules, [(by_id[found.module_id], [found])], problems


def validate(
    root: Path,
    grading: GradingSession | None = None,
    progress: Callable[[str], None] = lambda _: None,
    query: str | None = None,
    matrix: list[Kill] | None = None,
) -> list[Problem]:
    """All problems of the content root (or of the module or exercise ``query`` names); graded
    checks only when ``grading`` is given."""
    _, selected, problems = select(root, query)
    for module, only in selected:
        problems += static_problems(module)
        if grading is not None:
            problems += graded_problems(module, grading, progress, only, matrix)
    return merged(problems)


# -- mutation testing of the graders (`course validate --mutate`) -------------------------------

MUTANTS_PER_EXERCISE = 30
"""Generated mutants graded per exercise: enough to find blind spots, few enough for CI."""
MUTATION_JOBS = 2
"""Mutants graded at once (each in its own database, on the shared warm worker)."""


@dataclass
class MutationScore:
    exercise: str
    generated: int
    killed: int
    equivalent: int
    survivors: list[str]
    """Mutants that passed every check and are not listed as equivalent (``str`` of each)."""

    @property
    def score(self) -> float:
        """Killed among the mutants that are not equivalent (1.0 when there are none)."""
        counted = self.generated - self.equivalent
        return self.killed / counted if counted else 1.0

    def __str__(self) -> str:
        return (
            f"{self.exercise}: {self.score:.0%} ({self.killed} of {self.generated - self.equivalent} killed"
            f"{f', {self.equivalent} equivalent' if self.equivalent else ''}"
            f"{f', {len(self.survivors)} surviving' if self.survivors else ''})"
        )


def mutation_problems(
    module: Module,
    grading: GradingSession,
    only: list[Exercise] | None = None,
    limit: int = MUTANTS_PER_EXERCISE,
    progress: Callable[[str], None] = lambda _: None,
    matrix: list[Kill] | None = None,
) -> tuple[list[Problem], list[MutationScore]]:
    """Grade generated mutants of each reference solution: every survivor not listed under
    ``[equivalent]`` in exercise.toml is a problem, and so is a grader crash on any mutant."""
    from concurrent.futures import ThreadPoolExecutor

    from course.content.mutation import exercise_mutations, write_mutant
    from course.grading.session import job_for, materialised

    matrix = matrix if matrix is not None else []

    def run(case):
        exercise, mutation = case
        with materialised(exercise, "solution") as folder:
            write_mutant(folder, mutation)
            return grading.grade(job_for(exercise, folder))

    problems, scores = [], []
    with ThreadPoolExecutor(max_workers=MUTATION_JOBS) as pool:
        for exercise in only or module.exercises:
            meta = exercise.path / "exercise.toml"
            cases = [(exercise, mutation) for mutation in exercise_mutations(exercise, limit)]
            progress(f"{exercise.id}: {len(cases)} generated mutants")
            killed, equivalent, survivors = 0, 0, []
            for (_, mutation), result in zip(cases, pool.map(run, cases), strict=True):
                crashed = [c for c in result.checks if c.status == "error" and c.message.startswith("the grader itself failed")]
                if crashed:
                    problems.append(
                        Problem(
                            exercise.checks_file,
                            f"{crashed[0].name} crashed on the mutant {mutation}: {crashed[0].message.splitlines()[-1]}",
                        )
                    )
                caught = sorted(c.name for c in result.checks if c.status != "pass")
                if result.status != "pass":
                    killed += 1
                    matrix.append(Kill(exercise.id, str(mutation), caught, "killed"))
                    if mutation.id in exercise.equivalent:
                        problems.append(
                            Problem(
                                meta,
                                f"equivalent.{mutation.id!r} is listed as equivalent, but the "
                                "grader rejects it: remove it from [equivalent]",
                            )
                        )
                elif mutation.id in exercise.equivalent:
                    equivalent += 1
                    matrix.append(Kill(exercise.id, str(mutation), [], "equivalent", exercise.equivalent[mutation.id]))
                else:
                    survivors.append(str(mutation))
                    matrix.append(
                        Kill(exercise.id, str(mutation), [], "survived", "every check passes and no [equivalent] entry")
                    )
                    problems.append(
                        Problem(
                            exercise.solution_dir / mutation.file,
                            f"generated mutant survives every check: {mutation.operator} {mutation.detail}. Kill it with a "
                            f'better check, or list it in exercise.toml under [equivalent]: {json.dumps(mutation.id)} = "why it is '
                            'still correct"',
                            mutation.line,
                        )
                    )
            scores.append(MutationScore(exercise.id, len(cases), killed, equivalent, survivors))
            if exercise.equivalent:
                generated = {mutation.id for mutation in exercise_mutations(exercise, limit=len(exercise.equivalent) + 10**6)}
                for stale in sorted(set(exercise.equivalent) - generated):
                    problems.append(
                        Problem(
                            meta,
                            f"equivalent.{json.dumps(stale)} names no generated mutant (the solution changed?): remove it",
                        )
                    )
    return problems, scores


def validate_mutants(
    root: Path,
    grading: GradingSession,
    query: str | None = None,
    limit: int = MUTANTS_PER_EXERCISE,
    progress: Callable[[str], None] = lambda _: None,
    matrix: list[Kill] | None = None,
) -> tuple[list[Problem], list[MutationScore]]:
    """``course validate --mutate [EXERCISE]``: the full validation of ``root`` (static and graded),
    then the mutation test of every exercise's grader (or of the module or exercise ``query``
    names). ``matrix`` collects which check killed each mutant, hand-written and generated."""
    _, selected, problems = select(root, query)
    scores: list[MutationScore] = []
    for module, only in selected:
        problems += static_problems(module)
        problems += graded_problems(module, grading, progress, only, matrix)
        found_problems, found_scores = mutation_problems(module, grading, only, limit, progress, matrix)
        problems += found_problems
        scores += found_scores
    return merged(problems), scores
