"""Every shipped exercise: the solution passes, the starter fails, each mutant is rejected by the
check it names, each variant (a correct solution written differently) passes. Real Postgres."""

from __future__ import annotations

import pytest

from checker.process.runner import grade
from course.content.model import load_modules
from course.grading.session import job_for, materialised


def _cases():
    for module in load_modules():
        for exercise in module.exercises:
            yield pytest.param(exercise.id, "solution", id=f"{exercise.id}-solution")
            yield pytest.param(exercise.id, "starter", id=f"{exercise.id}-starter")
            for name in exercise.mutants:
                yield pytest.param(exercise.id, f"mutants/{name}", id=f"{exercise.id}-mutant-{name}")
            for name in exercise.variants:
                yield pytest.param(exercise.id, f"variants/{name}", id=f"{exercise.id}-variant-{name}")


HINT_LADDER = {
    # exercise: code its starter's first failure must not print (it names the mistake, the concept and
    # the place, and points to `course hint` instead)
    "02-models": "mapped_column(String(255)",
    "03-engine-session": 'create_engine(os.environ["DATABASE_URL"])',
    "04-crud": "session.add(",
    "05-relationships": 'relationship(back_populates="owner")',
    "06-fastapi": "try: yield db",
    "07-migrations": "target_metadata = Base.metadata",
    "07-rename-migration": "alter_column",
    "08-docchat": "db.add(Document(",
    "09-many-to-many": 'Table("document_tag"',
    "10-cascades": "class Chunk(Base)",
    "11-loading": 'lazy="raise")',
    "12-pooling": "pool_size=5, max_overflow=10",
    "13-hybrid": "@hybrid_property",
}


def _describe(result) -> str:
    return "\n".join(f"{c.status:5} {c.name}: {c.message[:500]}" for c in result.checks)


@pytest.mark.parametrize(("exercise_id", "variant"), list(_cases()))
def test_exercise_case(exercise_id, variant, exercises, databases, warm_launcher):
    exercise = exercises[exercise_id]
    with materialised(exercise, variant) as folder:
        result = grade(job_for(exercise, folder), databases, launcher=warm_launcher)
    statuses = {check.name: check.status for check in result.checks}
    if variant in ("solution",) or variant.startswith("variants/"):
        assert result.status == "pass", _describe(result)
    elif variant == "starter":
        assert result.status == "fail", _describe(result)
        assert any(status == "fail" for status in statuses.values())
        first = next(c for c in result.checks if c.status == "fail")
        if exercise_id in HINT_LADDER:
            assert "A hint is available: `course hint " in first.message, f"{first.name}: {first.message}"
            assert HINT_LADDER[exercise_id] not in first.message, f"{first.name} hands over the line: {first.message}"
    else:
        mutant = exercise.mutants[variant.split("/", 1)[1]]
        expected = mutant.expect
        assert expected in statuses, f"the mutant names an unknown check {expected!r}; checks: {sorted(statuses)}"
        assert statuses[expected] == "fail", f"{variant} must be caught by {expected}:\n{_describe(result)}"
        assert result.status == "fail", _describe(result)
        assert mutant.diagnosis, f"{variant}: give it a diagnosis (a phrase its failure message must contain)"
        message = next(c.message for c in result.checks if c.name == expected)
        assert mutant.diagnosis.lower() in message.lower(), (
            f"{variant}: the message of {expected} does not name the mistake ({mutant.diagnosis!r}):\n{message}"
        )


def test_every_exercise_has_enough_material(modules):
    for module in modules:
        assert not module.problems, module.problems
        for exercise in module.exercises:
            assert len(exercise.hints) >= 2, exercise.id
            assert len(exercise.mutants) >= 3, exercise.id
            assert len(exercise.variants) >= 1, exercise.id
            assert exercise.checks_file.is_file(), exercise.id
