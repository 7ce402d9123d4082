"""Every shipped exercise: the solution passes, the starter fails, each mutant is rejected by the
check it names, each variant (a correct solution written differently) passes. Real Postgres."""

from __future__ import annotations

import re

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


API_SPELLING = {"Base.metadata", 'os.environ["DATABASE_URL"]', "pool_pre_ping=True", "@hybrid_property", "passive_deletes=True"}
"""The library's own spelling of a concept: a message may name it (it names the concept, not the answer)."""


def _solution_lines(exercise) -> set[str]:
    """The lines of the solution its starter lacks, without spaces: the code the learner must write
    (imports, comments and lines under 12 characters left out)."""

    def lines(path):
        found = set()
        for raw in path.read_text(encoding="utf-8").splitlines():
            line = re.sub(r"\s+", "", raw.split("  #")[0]).rstrip(",")
            # the task names the classes and tables to write; the code of their bodies is the learner's
            if len(line) >= 12 and not line.startswith(("#", "from", "import", '"""', "class", "__tablename__")):
                found.add(line)
        return found

    result: set[str] = set()
    for solution in (exercise.path / "solution").rglob("*.py"):
        starter = exercise.path / "starter" / solution.relative_to(exercise.path / "solution")
        result |= lines(solution) - (lines(starter) if starter.is_file() else set())
    return result


@pytest.mark.parametrize(
    "exercise_id", ["07-migrations", "11-loading", "12-pooling", "08-docchat", "09-many-to-many", "10-cascades", "13-hybrid"]
)
def test_no_message_hands_over_solution_code_before_the_hints(exercise_id, exercises, databases, warm_launcher):
    """The untouched starter's failures name the mistake and point to `course hint`; none of them
    holds a line of the solution the learner has to write."""
    exercise = exercises[exercise_id]
    with materialised(exercise, "starter") as folder:
        result = grade(job_for(exercise, folder), databases, launcher=warm_launcher)
    solution = _solution_lines(exercise) - API_SPELLING
    for check in result.checks:
        if check.status == "pass":
            continue
        flat = "".join(check.message.split())
        spans = ["".join(span.split()) for span in re.findall(r"`([^`]{15,})`", check.message)]
        shown = sorted(line for line in solution if line in flat)
        shown += sorted(span for span in spans if any(span in line for line in solution))
        assert not shown, f"{exercise_id} {check.name} shows solution code before the hints: {shown}\n{check.message}"


def test_course_exec_finds_the_tools_installed_beside_course(tmp_path, state_dir):
    """`course exec … -- alembic` works without the virtualenv activated: the running interpreter's
    scripts folder comes first on the command's PATH."""
    import os
    import shutil
    import sysconfig

    from conftest import course

    bare_path = os.pathsep.join(p for p in ("/usr/bin", "/bin") if os.path.isdir(p))
    assert sysconfig.get_path("scripts") not in bare_path.split(os.pathsep)
    assert shutil.which("alembic", path=bare_path) is None  # the precondition: not activated
    env = {"PATH": bare_path}
    workspace = tmp_path / "ws"
    assert course("init", workspace=workspace, env=env).returncode == 0
    try:
        result = course("exec", "07-migrations", "--", "alembic", "--version", workspace=workspace, env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "alembic" in result.stdout.lower() and "command not found" not in result.stderr
        missing = course("exec", "07-migrations", "--", "no-such-tool-xyz", workspace=workspace, env=env)
        assert missing.returncode == 2 and "command not found: no-such-tool-xyz" in missing.stderr
    finally:
        course("db", "stop", env=env)
