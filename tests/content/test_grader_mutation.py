"""`course validate --mutate` on the shipped module: every generated mutant of every reference
solution is rejected by a check, or listed under [equivalent] in exercise.toml with its reason,
and no mutant makes a check crash. Real Postgres, the warm worker."""

from __future__ import annotations

import pytest

from course.content.model import load_modules
from course.grading.validation import mutation_problems


def _exercises():
    return [pytest.param(module.id, exercise.id, id=exercise.id) for module in load_modules() for exercise in module.exercises]


@pytest.mark.parametrize(("module_id", "exercise_id"), _exercises())
def test_every_generated_mutant_is_killed_or_explained(module_id, exercise_id, modules, exercises, grading):
    module = next(m for m in modules if m.id == module_id)
    problems, (score,) = mutation_problems(module, grading, [exercises[exercise_id]])
    assert not problems, "\n".join(str(p) for p in problems)
    assert score.generated > 0 and score.score == 1.0, score
