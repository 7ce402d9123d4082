"""Every check turns any value the learner's code can produce into a pass or a teaching failure:
perturbed solutions (functions returning None, a tuple or a string; attributes missing or set to
None; created_at as a Date; an extra required column; String as Integer) never make the grader
itself fail. Real Postgres, the real grading machinery."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from checker.process.runner import grade
from course.content.model import load_modules
from course.content.mutation import perturbations, write_mutant
from course.grading.session import job_for, materialised

PER_EXERCISE = 14
GRADER_FAILURES = ("the grader itself failed", "fixture teardown failed", "cannot load the checks")


def _exercise_ids():
    return [exercise.id for module in load_modules() for exercise in module.exercises]


def test_perturbations_cover_every_kind():
    kinds = {p.operator for module in load_modules() for e in module.exercises for p in perturbations(e, PER_EXERCISE)}
    assert kinds >= {
        "return-none",
        "return-tuple",
        "return-text",
        "drop-attribute",
        "assign-none",
        "date-for-datetime",
        "extra-required-column",
        "integer-for-string",
    }


@pytest.mark.parametrize("exercise_id", _exercise_ids())
def test_no_grader_error_on_perturbed_code(exercise_id, exercises, databases, warm_launcher):
    exercise = exercises[exercise_id]
    cases = perturbations(exercise, PER_EXERCISE)
    assert cases, f"{exercise_id}: no perturbation applies"

    def run(mutation):
        with materialised(exercise, "solution") as folder:
            write_mutant(folder, mutation)
            return mutation, grade(job_for(exercise, folder), databases, launcher=warm_launcher)

    crashes = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        for mutation, result in pool.map(run, cases):
            for check in result.checks:
                if check.status == "error" and check.message.startswith(GRADER_FAILURES):
                    crashes.append(f"{mutation}\n  {check.name}: {check.message}")
    assert not crashes, "the grader crashed instead of failing with a message:\n" + "\n".join(crashes)
