"""The learner's process is a witness, the judge decides (issue 22), for the Alembic exercises:
attacks appended to an untouched starter of 07-migrations and 07-rename-migration never turn a
check to ``pass``.

Alembic runs in the learner's process (the acts run the learner's env.py and revisions); the
verdicts come from what the judge reads itself: the schema and rows through its own connection,
the statement env.py's connection sent with a marker drawn per run (the server's statement log),
the revisions read as text. The attacks (from ``test_witness``) walk the frames and replace every
check and act function, hunt the grader's objects with ``gc``, write forged report lines on every
descriptor; and one replaces the acts with forged "correct" answers: Alembic ran, env.py handed
over the models' metadata and connected to DATABASE_URL — without doing any of it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from checker.process.runner import grade
from course.grading.session import job_for
from security.conftest import starter_with, statuses
from security.test_witness import ATTACKS, FIND_REGISTRY, gained

FIND_REGISTRY_STRICT = FIND_REGISTRY
"""``test_witness``'s frame walk (exact: only an object whose own ``acts`` is a dict is a registry)."""

FORGED_ALEMBIC = """
def _forged_command(ctx, verb, target):  # "alembic upgrade/downgrade ran": nothing ran
    return {}

def _forged_env(ctx, as_written, nonce, build):  # the metadata handed over, the right URL: nothing connected
    from sqlalchemy.engine import make_url
    return {
        "metadata": True,
        "tables": ["documents", "users"],
        "url": make_url(ctx.database_url).render_as_string(hide_password=True),
    }

def _forged_map(ctx):
    return {"revisions": []}

for _registry in _registries():
    _registry.acts.update(alembic_command=_forged_command, run_env=_forged_env, revision_map=_forged_map)
"""

OWN_ATTACKS = {
    **{
        name: ATTACKS[name].replace(FIND_REGISTRY, FIND_REGISTRY_STRICT)
        for name in ("frames-replace-checks-and-acts", "gc-hunt", "forged-lines-on-every-fd")
    },
    "forged-act-answers": FIND_REGISTRY_STRICT + FORGED_ALEMBIC,
}
EXERCISES = ("07-migrations", "07-rename-migration")


def hostile_folder(root: Path, exercise, attack: str, into: str = "models.py") -> Path:
    """The untouched starter with ``attack`` appended to ``into`` (models.py is imported when the
    learner's process starts; alembic/env.py runs each time Alembic does, inside the acts)."""
    return starter_with(root, exercise, attack, into, OWN_ATTACKS.get(attack, ""))


@pytest.fixture(scope="module")
def baselines(exercises, databases, warm_launcher, tmp_path_factory):
    root = tmp_path_factory.mktemp("baseline")
    return {
        name: grade(
            job_for(exercises[name], hostile_folder(root, exercises[name], "untouched")), databases, launcher=warm_launcher
        )
        for name in EXERCISES
    }


def test_the_untouched_starters_are_judged_from_evidence(baselines):
    """Every check of both exercises is evidence (none is testimony), and the starters pass none."""
    for name, result in baselines.items():
        assert result.checks, name
        assert all(c.evidence == "evidence" for c in result.checks), (name, [(c.name, c.evidence) for c in result.checks])
        assert all(status == "fail" for status in statuses(result).values()), (name, statuses(result))


@pytest.mark.parametrize("exercise_id", EXERCISES)
@pytest.mark.parametrize("attack", sorted(OWN_ATTACKS))
def test_an_attack_in_the_learners_process_gains_no_check(
    exercise_id, attack, exercises, databases, warm_launcher, baselines, tmp_path
):
    exercise = exercises[exercise_id]
    result = grade(job_for(exercise, hostile_folder(tmp_path, exercise, attack)), databases, launcher=warm_launcher)
    assert not any("cannot import" in c.message for c in result.checks), result.checks[0].message  # the attack ran
    assert not gained(baselines[exercise_id], result), (gained(baselines[exercise_id], result), result.output[-2000:])
    assert not [name for name, status in statuses(result).items() if status == "pass"], (statuses(result), result.output[-2000:])
    assert not result.passed


@pytest.mark.parametrize("attack", ["frames-replace-checks-and-acts", "forged-act-answers"])
def test_an_attack_in_env_py_gains_no_check(attack, exercises, databases, warm_launcher, baselines, tmp_path):
    """Appended to alembic/env.py, the attack runs inside the acts, each time Alembic runs env.py."""
    exercise = exercises["07-migrations"]
    folder = hostile_folder(tmp_path, exercise, attack, into="alembic/env.py")
    result = grade(job_for(exercise, folder), databases, launcher=warm_launcher)
    assert not any("alembic/env.py:" in c.message and "Error" in c.message for c in result.checks), result.checks  # it ran
    assert not gained(baselines["07-migrations"], result), gained(baselines["07-migrations"], result)
    assert "pass" not in statuses(result).values(), statuses(result)


def test_the_forged_answers_are_caught_by_what_the_judge_sees(exercises, databases, warm_launcher, tmp_path):
    """Forged "env.py handed over the metadata / connected to DATABASE_URL / Alembic ran": the
    database holds no table, and Postgres received no marker on env.py's connection."""
    exercise = exercises["07-migrations"]
    result = grade(job_for(exercise, hostile_folder(tmp_path, exercise, "forged-act-answers")), databases, launcher=warm_launcher)
    checks = {c.name: c for c in result.checks}
    assert checks["env-target-metadata"].status == "fail"
    assert "were not in the database once env.py finished" in checks["env-target-metadata"].message
    assert checks["env-url-from-env"].status == "fail"
    assert "Postgres received nothing on the connection env.py made" in checks["env-url-from-env"].message
    assert checks["upgrade-head"].status == "fail"
    assert "tables found: none" in checks["upgrade-head"].message

    exercise = exercises["07-rename-migration"]
    result = grade(job_for(exercise, hostile_folder(tmp_path, exercise, "forged-act-answers")), databases, launcher=warm_launcher)
    checks = {c.name: c for c in result.checks}
    assert checks["no-drift"].status == "fail"
    assert "table `users` is in models.py, but no revision creates it" in checks["no-drift"].message


@pytest.mark.root
@pytest.mark.parametrize("attack", ["frames-replace-checks-and-acts", "forged-act-answers"])
def test_confined_as_course_grade_confines(attack, exercises, class_session, class_launcher, baselines, tmp_path):
    """``course grade`` as root: the witness in a uid of its own, the judge keeps the grader's."""
    exercise = exercises["07-migrations"]
    result = grade(job_for(exercise, hostile_folder(tmp_path, exercise, attack)), class_session, launcher=class_launcher)
    assert not gained(baselines["07-migrations"], result), (gained(baselines["07-migrations"], result), result.output[-2000:])
    assert "pass" not in statuses(result).values(), statuses(result)


@pytest.mark.root
@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_the_solutions_pass_confined_from_evidence(exercise_id, exercises, class_session, class_launcher):
    """Confined as ``course grade`` confines, the reference solutions still pass, every check from
    evidence (the judge reads the server's statement log: env.py's marker is found there)."""
    from course.grading.session import materialised

    exercise = exercises[exercise_id]
    with materialised(exercise, "solution") as folder:
        result = grade(job_for(exercise, folder), class_session, launcher=class_launcher)
    assert result.passed, [(c.name, c.status, c.message[:300]) for c in result.checks]
    assert all(c.evidence == "evidence" for c in result.checks), [(c.name, c.evidence) for c in result.checks]
