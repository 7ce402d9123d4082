"""The learner's process is a witness, the judge decides (issue 22), for 04-crud: attacks appended
to the untouched starter's crud.py never turn an evidence check to ``pass``.

The acts call one crud function with a fresh Session and describe what it returned; the judge
seeds ids, titles and dates drawn per run through its own connection, reads the rows back itself
and reads the SQL from what Postgres received. The attacks (from ``test_witness``) walk the frames
and replace every check and act function, hunt the grader's objects with ``gc``, write forged
report lines on every descriptor; two replace the act with forged "correct" answers made without
calling the database: one answers "not there" for every lookup (right for the missing ids), one
echoes the ids and titles it is given and lists the ids of the seed this file used to hold.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from checker.process.runner import grade
from course.grading.session import job_for
from security.conftest import statuses
from security.test_witness import ATTACKS, FIND_REGISTRY, gained

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

OWN_ATTACKS = {
    **{name: ATTACKS[name] for name in ("frames-replace-checks-and-acts", "gc-hunt", "forged-lines-on-every-fd")},
    "forged-act-missing": FIND_REGISTRY + FORGED_MISSING,
    "forged-act-echo": FIND_REGISTRY + FORGED_ECHO,
}
TARGETS = {"04-crud": "crud.py"}


def hostile_folder(root: Path, exercise, attack: str) -> Path:
    """The untouched starter with ``attack`` appended to the file the learner edits."""
    folder = root / attack / exercise.id
    shutil.copytree(exercise.starter_dir, folder, dirs_exist_ok=True)
    path = folder / TARGETS[exercise.id]
    path.write_text(path.read_text(encoding="utf-8") + "\n\n" + textwrap.dedent(OWN_ATTACKS.get(attack, "")), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def baselines(exercises, databases, warm_launcher, tmp_path_factory):
    root = tmp_path_factory.mktemp("baseline")
    return {
        name: grade(job_for(exercises[name], hostile_folder(root, exercises[name], "untouched")), databases, launcher=warm_launcher)
        for name in TARGETS
    }


def test_the_untouched_starters_are_judged_from_evidence(baselines):
    """Every check of 04-crud is evidence, and the starter passes only the style check (it has no
    legacy query and no SQL string yet)."""
    result = baselines["04-crud"]
    assert result.checks
    assert all(c.evidence == "evidence" for c in result.checks), [(c.name, c.evidence) for c in result.checks]
    assert [name for name, status in statuses(result).items() if status == "pass"] == ["style-select"], statuses(result)


@pytest.mark.parametrize("exercise_id", sorted(TARGETS))
@pytest.mark.parametrize("attack", sorted(OWN_ATTACKS))
def test_an_attack_in_the_learners_process_gains_no_check(
    exercise_id, attack, exercises, databases, warm_launcher, baselines, tmp_path
):
    exercise = exercises[exercise_id]
    result = grade(job_for(exercise, hostile_folder(tmp_path, exercise, attack)), databases, launcher=warm_launcher)
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


@pytest.mark.root
@pytest.mark.parametrize("attack", ["frames-replace-checks-and-acts", "forged-act-echo"])
def test_confined_as_course_grade_confines(attack, exercises, class_session, class_launcher, baselines, tmp_path):
    """``course grade`` as root: the witness in a uid of its own, the judge keeps the grader's."""
    exercise = exercises["04-crud"]
    result = grade(job_for(exercise, hostile_folder(tmp_path, exercise, attack)), class_session, launcher=class_launcher)
    assert not gained(baselines["04-crud"], result), (gained(baselines["04-crud"], result), result.output[-2000:])
    assert not result.passed


@pytest.mark.root
@pytest.mark.parametrize("exercise_id", sorted(TARGETS))
def test_the_solutions_pass_confined_from_evidence(exercise_id, exercises, class_session, class_launcher):
    """Confined as ``course grade`` confines, the reference solutions pass, every check from evidence."""
    from course.grading.session import materialised

    exercise = exercises[exercise_id]
    with materialised(exercise, "solution") as folder:
        result = grade(job_for(exercise, folder), class_session, launcher=class_launcher)
    assert result.passed, [(c.name, c.status, c.message[:300]) for c in result.checks]
    assert all(c.evidence == "evidence" for c in result.checks), [(c.name, c.evidence) for c in result.checks]
