"""The learner's process is a witness, the judge decides (issue 22), for the FastAPI exercises
(06-fastapi, 08-docchat): attacks appended to an untouched starter never turn an evidence check
to ``pass`` that the untouched starter does not pass itself.

Each attack runs in the learner's process, as a hostile student's code would: it walks the
frames (or hunts with ``gc``) and replaces every check function and every act with one that
returns what a correct answer would, or forges the acts' answers — plausible "correct" data
built without doing the work (the rules are in ``checks.py``, which it can read; the titles, ids,
creation times and markers are drawn per run in the judge). Graded the way ``course check``
grades: a warm worker, the run's own server with its statement log.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from checker.process.runner import grade
from course.grading.session import job_for
from security.conftest import starter_with, statuses
from security.test_witness import gained

FIND_REGISTRY = """
import sys as _sys

def _registries():
    found, frame = [], _sys._getframe()
    while frame is not None:
        for value in list(frame.f_locals.values()):
            if hasattr(value, "acts") and hasattr(value, "checks"):
                found.append(value)
        frame = frame.f_back
    return found
"""

REPLACE_EVERYTHING = (
    FIND_REGISTRY
    + """
def _pass(*args, **kwargs):
    return None

for _registry in _registries():
    for _spec in _registry.checks:
        _spec.function = _pass
    for _name in list(_registry.acts):
        _registry.acts[_name] = _pass
_module = _sys.modules.get("course_checks")
for _name in dir(_module):
    if callable(getattr(_module, _name)) and not _name.startswith("__"):
        setattr(_module, _name, _pass)
"""
)

GC_HUNT = """
import gc as _gc
from checker.api import CheckSpec as _CheckSpec
for _object in _gc.get_objects():
    if isinstance(_object, _CheckSpec):
        _object.function = lambda *args, **kwargs: None
"""

FORGED_06 = (
    FIND_REGISTRY
    + """
def _forged_probe(ctx, marker):
    return {"where": "deps.py:22", "second": False, "left": 0, "bypass": []}

def _forged_overlap(ctx):
    return {"same": False, "where": "deps.py:22"}

def _forged_post(ctx, title, body):  # the id a fresh sequence would give: no request, no row
    return {"data": {"id": 731, "title": title, "body": body, "owner_id": 1}, "where": "main.py:25"}

def _forged_listing(ctx):  # a bare read of the table, newest id first: no ORDER BY created_at
    from sqlalchemy import text
    with ctx.engine.connect() as conn:
        rows = conn.execute(text("SELECT id, title, body FROM documents")).all()
    items = [{"id": r.id, "title": r.title, "body": r.body} for r in rows]
    return {"items": sorted(items, key=lambda i: -i["id"]), "where": "main.py:30"}

def _forged_requests(ctx, titles):
    return {"number": 30, "call": "", "left": 0, "where": "deps.py:22"}

def _forged_raises(ctx, number, marker):
    return {"reached": True, "status": 500 if number == 1 else 404, "text": "", "left": 0, "where": "deps.py:22"}

for _registry in _registries():
    _registry.acts.update(
        probe_get_db=_forged_probe, overlapping_sessions=_forged_overlap, post=_forged_post,
        listing=_forged_listing, requests_in_turn=_forged_requests, route_raises=_forged_raises,
    )
"""
)

ATTACKS_06 = {
    "frames-replace-checks-and-acts": REPLACE_EVERYTHING,
    "gc-hunt": GC_HUNT,
    "forged-act-answers": FORGED_06,
}

FORGED_08 = (
    FIND_REGISTRY
    + """
import json as _json

def _forged_head(ctx):
    return {"head": "4a2d9c0e51b3", "file": "alembic/versions/4a2d9c0e51b3_create_users_and_documents.py"}

def _nothing(ctx, *args):
    return None

def _forged_dead_ini(ctx):
    return {"error": None, "explained": ""}

def _forged_fresh(ctx, which, what, *args):  # the answers of an app that works, without starting one
    if which == "post":
        return [[200, _json.dumps({"id": 501 + n, "title": t, "body": "text of " + t})] for n, t in enumerate(_json.loads(args[0]))]
    if which == "get":
        return [200, _json.dumps([{"id": 503, "title": "a"}, {"id": 501, "title": "b"}, {"id": 502, "title": "c"}]), []]
    return None

def _forged_requests(ctx, titles, marker):
    return {"after": "", "boom": False, "left": 0, "reached": True, "where": "deps.py:10"}

for _registry in _registries():
    _registry.acts.update(
        head=_forged_head, engine_url=_nothing, upgrade_with_dead_ini=_forged_dead_ini,
        model_drift=_nothing, alembic_check=_nothing, fresh_process=_forged_fresh, requests_then_raise=_forged_requests,
    )
"""
)

NO_ALEMBIC = """
for _registry in _registries():
    _registry.acts["alembic"] = _nothing
"""

ATTACKS_08 = {
    "frames-replace-checks-and-acts": REPLACE_EVERYTHING,
    "gc-hunt": GC_HUNT,
    "forged-act-answers": FORGED_08 + NO_ALEMBIC,
}

EXERCISES = {"06-fastapi": "main.py", "08-docchat": "main.py"}


def hostile_folder(root: Path, exercise, attack: str, text: str, *, into: str) -> Path:
    return starter_with(root, exercise, attack, into, text)


@pytest.fixture(scope="module")
def baselines(exercises, databases, warm_launcher, tmp_path_factory):
    root = tmp_path_factory.mktemp("baseline")
    results = {}
    for name, into in EXERCISES.items():
        exercise = exercises[name]
        folder = hostile_folder(root, exercise, "untouched", "", into=into)
        results[name] = grade(job_for(exercise, folder), databases, launcher=warm_launcher)
    return results


def test_the_untouched_starters_are_judged_from_evidence(baselines):
    """The baselines: every check fails, and only the declared testimony is testimony."""
    fastapi = {c.name: c for c in baselines["06-fastapi"].checks}
    assert [n for n, c in fastapi.items() if c.testimony] == ["session-per-request"], fastapi
    assert all(c.status != "pass" for c in fastapi.values()), fastapi
    docchat = {c.name: c for c in baselines["08-docchat"].checks}
    assert not any(c.testimony for c in docchat.values()), docchat
    assert docchat["restart-survives"].status == "fail"  # the in-memory starter


@pytest.mark.parametrize("attack", sorted(ATTACKS_08))
def test_an_attack_on_08_gains_no_evidence_check(attack, exercises, databases, warm_launcher, baselines, tmp_path):
    exercise = exercises["08-docchat"]
    folder = hostile_folder(tmp_path, exercise, attack, ATTACKS_08[attack], into="main.py")
    result = grade(job_for(exercise, folder), databases, launcher=warm_launcher)
    assert not gained(baselines["08-docchat"], result), (gained(baselines["08-docchat"], result), result.output[-2000:])
    assert not result.passed


def test_08_forged_answers_are_caught_by_what_the_judge_saw(exercises, databases, warm_launcher, tmp_path):
    """Acts answering as a working app would, without running it (the migrations run for real):
    the judge finds no alembic_version from the dead-URL run, no rows, no marker statement; with
    Alembic's runs forged too, no tables either."""
    import dataclasses

    exercise = exercises["08-docchat"]
    folder = hostile_folder(tmp_path, exercise, "forged", FORGED_08, into="main.py")
    result = grade(job_for(exercise, folder), databases, launcher=warm_launcher)
    checks = {c.name: c for c in result.checks}
    assert statuses(result) == {
        "url-from-env": "fail",
        "upgrade-builds-schema": "pass",  # real migrations: the work was done
        "downgrade-base": "pass",
        "no-create-all": "pass",  # nothing was started, and nothing created
        "restart-survives": "fail",
        "sessions-closed": "fail",
    }, result.checks
    assert "left no alembic_version table" in checks["url-from-env"].message
    assert "the documents table is empty" in checks["restart-survives"].message
    assert "sent Postgres nothing" in checks["sessions-closed"].message

    folder = hostile_folder(tmp_path / "no-alembic", exercise, "forged", FORGED_08 + NO_ALEMBIC, into="main.py")
    job = dataclasses.replace(job_for(exercise, folder), only=("upgrade-builds-schema", "downgrade-base"))
    result = grade(job, databases, launcher=warm_launcher)
    assert statuses(result) == {"upgrade-builds-schema": "fail", "downgrade-base": "fail"}, result.checks
    assert "missing" in result.checks[0].message


@pytest.mark.parametrize("attack", sorted(ATTACKS_06))
def test_an_attack_on_06_gains_no_evidence_check(attack, exercises, databases, warm_launcher, baselines, tmp_path):
    exercise = exercises["06-fastapi"]
    folder = hostile_folder(tmp_path, exercise, attack, ATTACKS_06[attack], into="main.py")
    result = grade(job_for(exercise, folder), databases, launcher=warm_launcher)
    assert not gained(baselines["06-fastapi"], result), (gained(baselines["06-fastapi"], result), result.output[-2000:])
    assert not result.passed


def test_06_forged_answers_are_caught_by_what_the_judge_saw(exercises, databases, warm_launcher, tmp_path):
    """Acts answering "correct" data without doing the work: the judge finds no row, no marker
    statement from get_db's session, no ORDER BY created_at in what Postgres received."""
    exercise = exercises["06-fastapi"]
    folder = hostile_folder(tmp_path, exercise, "forged", FORGED_06, into="main.py")
    result = grade(job_for(exercise, folder), databases, launcher=warm_launcher)
    checks = {c.name: c for c in result.checks}
    assert statuses(result) == {
        "get-db-generator": "fail",
        "session-per-request": "pass",  # forged testimony: said so
        "post-creates-document": "fail",
        "post-then-get": "fail",
        "get-newest-first": "fail",
        "no-connection-leaks": "fail",
        "closed-when-route-raises": "fail",
    }, result.checks
    assert checks["session-per-request"].testimony
    assert "Postgres received none" in checks["get-db-generator"].message
    assert "another connection sees no such row" in checks["post-creates-document"].message
    assert "newest first is" in checks["get-newest-first"].message
    assert "never ran" in checks["closed-when-route-raises"].message


LYING_LEFT = (
    FIND_REGISTRY
    + """
def _lying(real):
    def act(ctx, *args):
        answer = real(ctx, *args)
        answer["left"] = 0  # the pool's count, the witness's word: forged
        return answer
    return act

for _registry in _registries():
    for _name in ("probe_get_db", "requests_in_turn", "route_raises", "requests_then_raise"):
        if _name not in _registry.acts:
            continue
        _registry.acts[_name] = _lying(_registry.acts[_name])
"""
)


@pytest.mark.parametrize(
    ("name", "mutant", "check"),
    [
        ("06-fastapi", "never-closed", "no-connection-leaks"),
        ("06-fastapi", "never-closed", "get-db-generator"),
        ("06-fastapi", "close-without-finally", "closed-when-route-raises"),
        ("08-docchat", "close-without-finally", "sessions-closed"),
    ],
)
def test_a_session_left_open_is_seen_by_the_judge(name, mutant, check, exercises, databases, warm_launcher, tmp_path):
    """The acts do the real requests through a get_db that never closes its session, and then lie
    that the pool has nothing checked out: the judge sees the backend still inside a transaction
    in pg_stat_activity."""
    import dataclasses

    exercise = exercises[name]
    folder = tmp_path / mutant / exercise.id
    shutil.copytree(exercise.solution_dir, folder)
    shutil.copytree(exercise.path / "mutants" / mutant, folder, dirs_exist_ok=True)
    with open(folder / "main.py", "a", encoding="utf-8") as handle:
        handle.write("\n\n" + textwrap.dedent(LYING_LEFT))
    result = grade(dataclasses.replace(job_for(exercise, folder), only=(check,)), databases, launcher=warm_launcher)
    assert statuses(result) == {check: "fail"}, result.checks
    assert "still checked out" in result.checks[0].message or "kept its connection" in result.checks[0].message


@pytest.mark.root
@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_confined_as_course_grade_confines(name, exercises, class_session, class_launcher, baselines, tmp_path):
    """``course grade`` as root: the reference solution still passes with its witness confined (the
    judge sees its sessions in pg_stat_activity, the fresh processes start), and the forged answers
    gain no evidence check."""
    exercise = exercises[name]
    solution = tmp_path / "solution" / exercise.id
    shutil.copytree(exercise.solution_dir, solution)
    result = grade(job_for(exercise, solution), class_session, launcher=class_launcher)
    assert result.passed, result.checks
    forged = FORGED_06 if name == "06-fastapi" else FORGED_08 + NO_ALEMBIC
    folder = hostile_folder(tmp_path, exercise, "forged-act-answers", forged, into="main.py")
    result = grade(job_for(exercise, folder), class_session, launcher=class_launcher)
    assert not gained(baselines[name], result), (gained(baselines[name], result), result.output[-2000:])
    assert not result.passed
