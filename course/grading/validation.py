"""`course validate` with Postgres: the static problems, then each exercise graded (starter fails, solution
and variants pass, mutants fail) and the graders mutation-tested (`--mutate`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from course.content.model import Exercise, Module
from course.content.validate import Problem, content_modules, static_problems

if TYPE_CHECKING:
    from course.grading.session import GradingSession


def graded_problems(module: Module, grading: GradingSession, progress: Callable[[str], None] = lambda _: None) -> list[Problem]:
    """Grade solution, starter, mutants and variants of every exercise; run every lesson's code."""
    from course.content.lessoncode import run_lesson
    from course.grading.session import job_for, materialised

    problems = []
    for exercise in module.exercises:
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
    for section in module.sections:
        if not section.lesson.is_file():
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


def validate(
    root: Path, grading: GradingSession | None = None, progress: Callable[[str], None] = lambda _: None
) -> list[Problem]:
    """All problems of the content root; graded checks only when ``grading`` is given."""
    modules, problems = content_modules(root)
    for module in modules:
        problems += static_problems(module)
        if grading is not None:
            problems += graded_problems(module, grading, progress)
    return problems


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
) -> tuple[list[Problem], list[MutationScore]]:
    """Grade generated mutants of each reference solution: every survivor not listed under
    ``[equivalent]`` in exercise.toml is a problem, and so is a grader crash on any mutant."""
    from concurrent.futures import ThreadPoolExecutor

    from course.content.mutation import exercise_mutations, write_mutant
    from course.grading.session import job_for, materialised

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
                if result.status != "pass":
                    killed += 1
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
                else:
                    survivors.append(str(mutation))
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
) -> tuple[list[Problem], list[MutationScore]]:
    """``course validate --mutate [EXERCISE]``: the static problems of ``root``, then the mutation
    test of every exercise's grader (or of the one ``query`` names)."""
    from course.content.model import ExerciseNotFound, find_exercise

    modules, problems = content_modules(root)
    scores: list[MutationScore] = []
    for module in modules:
        problems += static_problems(module)
    only = None
    if query:
        try:
            found = find_exercise(modules, query)
        except ExerciseNotFound as error:
            return problems + [Problem(root, str(error))], scores
        if not isinstance(found, Exercise):
            return problems + [Problem(root, f"{query!r} is a quiz-only section: it has no grader to mutate")], scores
        only = [found]
    for module in modules:
        chosen = [e for e in module.exercises if only is None or e in only]
        if chosen:
            found_problems, found_scores = mutation_problems(module, grading, chosen, limit, progress)
            problems += found_problems
            scores += found_scores
    return problems, scores
