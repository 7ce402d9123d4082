"""The learner's process is a witness, the judge decides (issue 22), for 04-crud and 11-loading:
attacks appended to the untouched starter (crud.py; queries.py or models.py) never turn an
evidence check to ``pass``.

The acts call one crud function with a fresh Session and describe what it returned; the judge
seeds ids, titles and dates drawn per run through its own connection, reads the rows back itself
and reads the SQL from what Postgres received. The attacks (from ``test_witness``) walk the frames
and replace every check and act function, hunt the grader's objects with ``gc``, write forged
report lines on every descriptor; two replace the act with forged "correct" answers made without
calling the database: one answers "not there" for every lookup (right for the missing ids), one
echoes the ids and titles it is given and lists the ids of the seed this file used to hold.

In 11-loading the SELECTs are counted in what Postgres received: forged answers ("2 statements,
3 users, nothing refused") with no SQL behind them gain neither selectin-collection nor
joined-owner. lazy-raise is testimony (only the learner's process sees the refusal): a forged
"it raised" may pass it, and the result says it is testimony.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from checker.process.runner import grade
from course.grading.session import job_for
from security.conftest import starter_with, statuses
from security.test_witness import ATTACKS, gained

FIND_REGISTRY_EXACT = """
import sys as _sys

def _registries():
    found, frame = [], _sys._getframe()
    while frame is not None:
        for value in list(frame.f_locals.values()):
            own = getattr(value, "__dict__", None)  # exact: SQLAlchemy's `func` (models.py) answers every attribute
            if isinstance(own, dict) and isinstance(own.get("acts"), dict) and isinstance(own.get("checks"), list):
                found.append(value)
        frame = frame.f_back
    return found
"""

FORGED_MISSING = """
def _forged_call(ctx, name, *args):  # "nothing there" for every lookup, with no SQL sent
    return {
        "create_document": {"kind": "document", "id": 5271, "title": args[0] if args else ""},
        "list_documents": {"kind": "list", "items": []},
        "get_document": {"kind": "none"},
        "rename_document": {"kind": "none"},
        "delete_document": {"kind": "bool", "value": False},
    }.get(name, {"kind": "none"})

for _registry in _registries():
    _registry.acts["call"] = _forged_call
"""

FORGED_ECHO = """
_OLD = {12: (1, "Old memo"), 21: (2, "Grace's draft"), 13: (1, "Summer plan"), 22: (2, "Grace's notes"),
        11: (1, "Meeting notes"), 14: (1, "February report")}

def _document(doc_id, title):
    return {"kind": "document", "id": doc_id, "title": title}

def _forged_call(ctx, name, *args):  # what a correct answer looked like on the old fixed seed, echoing the inputs
    if name == "create_document":
        return _document(5271, args[0])
    if name == "list_documents":
        return {"kind": "list", "items": [_document(i, _OLD[i][1]) for i in (13, 11, 14, 12, 21, 22) if _OLD[i][0] in (1, 2)]}
    if name == "get_document":
        return _document(args[0], _OLD.get(args[0], (0, "Summer plan"))[1])
    if name == "rename_document":
        return _document(args[0], args[1])
    return {"kind": "bool", "value": True}

for _registry in _registries():
    _registry.acts["call"] = _forged_call
"""

FORGED_LOADING = """
def _forged_touch(ctx, user_id):  # "it raised": nothing was touched
    return {"raised": True, "lazy": "raise", "before": 0}

def _forged_returned(ctx, name):
    return []

def _forged_measure(ctx, name):  # "2 statements, 3 objects, nothing refused": no SQL sent
    return {"during": 2, "count": 3, "refused": None, "loaded": [], "rows": [3, 6]}

for _registry in _registries():
    _registry.acts.update(touch_unloaded=_forged_touch, returned=_forged_returned, call_then_touch=_forged_measure)
"""

GENERIC = {name: ATTACKS[name] for name in ("frames-replace-checks-and-acts", "gc-hunt", "forged-lines-on-every-fd")}
OWN_ATTACKS = {
    "04-crud": {
        **GENERIC,
        "forged-act-missing": FIND_REGISTRY_EXACT + FORGED_MISSING,
        "forged-act-echo": FIND_REGISTRY_EXACT + FORGED_ECHO,
    },
    "11-loading": {**GENERIC, "forged-act-answers": FIND_REGISTRY_EXACT + FORGED_LOADING},
}
TARGETS = {"04-crud": "crud.py", "11-loading": "queries.py"}
CASES = [(exercise_id, attack) for exercise_id, attacks in OWN_ATTACKS.items() for attack in sorted(attacks)]


def hostile_folder(root: Path, exercise, attack: str, into: str | None = None) -> Path:
    """The untouched starter with ``attack`` appended to the file the learner edits (or ``into``)."""
    return starter_with(root, exercise, attack, into or TARGETS[exercise.id], OWN_ATTACKS[exercise.id].get(attack, ""))


@pytest.fixture(scope="module")
def baselines(exercises, databases, warm_launcher, tmp_path_factory):
    root = tmp_path_factory.mktemp("baseline")
    return {
        name: grade(
            job_for(exercises[name], hostile_folder(root, exercises[name], "untouched")), databases, launcher=warm_launcher
        )
        for name in TARGETS
    }


def test_the_untouched_starters_are_judged_from_evidence(baselines):
    """Every check of 04-crud is evidence, and the starter passes only the style check (it has no
    legacy query and no SQL string yet)."""
    result = baselines["04-crud"]
    assert result.checks
    assert all(c.evidence == "evidence" for c in result.checks if c.name != "lazy-raise"), [
        (c.name, c.evidence) for c in result.checks
    ]
    assert [name for name, status in statuses(result).items() if status == "pass"] == ["style-select"], statuses(result)
    loading = {c.name: c for c in baselines["11-loading"].checks}
    assert loading["lazy-raise"].testimony
    assert all(c.evidence == "evidence" for n, c in loading.items() if n != "lazy-raise"), [
        (c.name, c.evidence) for c in loading.values()
    ]
    assert statuses(baselines["11-loading"])["selectin-collection"] == "fail"
    assert statuses(baselines["11-loading"])["joined-owner"] == "fail"


@pytest.mark.parametrize(("exercise_id", "attack"), CASES)
def test_an_attack_in_the_learners_process_gains_no_check(
    exercise_id, attack, exercises, databases, warm_launcher, baselines, tmp_path
):
    exercise = exercises[exercise_id]
    result = grade(job_for(exercise, hostile_folder(tmp_path, exercise, attack)), databases, launcher=warm_launcher)
    assert not any("cannot import" in c.message for c in result.checks), result.checks[0].message  # the attack ran
    assert not gained(baselines[exercise_id], result), (gained(baselines[exercise_id], result), result.output[-2000:])
    assert not result.passed


def test_the_forged_answers_are_caught_by_what_the_judge_sees(exercises, databases, warm_launcher, tmp_path):
    """Answers made without the database: right for the missing ids, but Postgres received no
    statement on documents; echoed ids and titles, but no row, no UPDATE, ids of another seed."""
    exercise = exercises["04-crud"]
    result = grade(job_for(exercise, hostile_folder(tmp_path, exercise, "forged-act-missing")), databases, launcher=warm_launcher)
    checks = {c.name: c for c in result.checks}
    for name in ("get-missing-document", "rename-missing-document", "delete-missing-document"):
        assert checks[name].status == "fail", (name, checks[name].message)
        assert "Postgres received no" in checks[name].message, (name, checks[name].message)
    assert "another connection sees no such row" in checks["create-document"].message

    result = grade(job_for(exercise, hostile_folder(tmp_path, exercise, "forged-act-echo")), databases, launcher=warm_launcher)
    checks = {c.name: c for c in result.checks}
    assert "sent no UPDATE" in checks["rename-document"].message
    assert "another connection still sees document" in checks["delete-document"].message
    assert checks["get-document"].status == "fail"
    assert checks["list-documents-newest-first"].status == "fail"
    assert checks["list-documents-owner-only"].status == "fail"


@pytest.mark.parametrize("into", ["queries.py", "models.py"])
def test_forged_loading_answers_are_caught_by_what_postgres_received(into, exercises, databases, warm_launcher, tmp_path):
    exercise = exercises["11-loading"]
    folder = hostile_folder(tmp_path, exercise, "forged-act-answers", into=into)
    result = grade(job_for(exercise, folder), databases, launcher=warm_launcher)
    checks = {c.name: c for c in result.checks}
    assert not any("cannot import" in c.message for c in result.checks), result.checks[0].message  # the attack ran
    assert checks["selectin-collection"].status == "fail", checks["selectin-collection"].message
    assert checks["joined-owner"].status == "fail", checks["joined-owner"].message
    assert "0 SELECTs" in checks["joined-owner"].message + checks["selectin-collection"].message
    assert checks["lazy-raise"].testimony  # a forged "it raised" rests on the witness's word, and says so


@pytest.mark.root
@pytest.mark.parametrize(
    ("exercise_id", "attack"),
    [("04-crud", "frames-replace-checks-and-acts"), ("04-crud", "forged-act-echo"), ("11-loading", "forged-act-answers")],
)
def test_confined_as_course_grade_confines(exercise_id, attack, exercises, class_session, class_launcher, baselines, tmp_path):
    """``course grade`` as root: the witness in a uid of its own, the judge keeps the grader's."""
    exercise = exercises[exercise_id]
    result = grade(job_for(exercise, hostile_folder(tmp_path, exercise, attack)), class_session, launcher=class_launcher)
    assert not gained(baselines[exercise_id], result), (gained(baselines[exercise_id], result), result.output[-2000:])
    assert not result.passed


@pytest.mark.root
@pytest.mark.parametrize("exercise_id", sorted(TARGETS))
def test_the_solutions_pass_confined_from_evidence(exercise_id, exercises, class_session, class_launcher):
    """Confined as ``course grade`` confines, the reference solutions pass, every check from evidence
    (but 11's lazy-raise, testimony)."""
    from course.grading.session import materialised

    exercise = exercises[exercise_id]
    with materialised(exercise, "solution") as folder:
        result = grade(job_for(exercise, folder), class_session, launcher=class_launcher)
    assert result.passed, [(c.name, c.status, c.message[:300]) for c in result.checks]
    assert all(c.evidence == "evidence" for c in result.checks if c.name != "lazy-raise"), [
        (c.name, c.evidence) for c in result.checks
    ]
