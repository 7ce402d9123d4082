"""The learner's process is a witness, the judge decides (issue 22), for 09-many-to-many, 10-cascades
and 12-pooling: an attack appended to the untouched starter (frames walked and every check and act
replaced, the grader's objects hunted with ``gc``, forged report lines on every descriptor, acts
forged to answer what a correct solution would, without doing the work) never turns an evidence
check to ``pass`` that the starter does not pass itself. And where a mutant is caught by evidence,
forging its act's answer does not hide the mistake: the judge reads the rows, ``pg_stat_activity``
and the SQL Postgres received itself.

Graded the way ``course check`` grades (a warm worker, the run's own server with its statement log).
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

EDITED = {"09-many-to-many": "models.py", "10-cascades": "models.py", "12-pooling": "db.py"}

FORGE = (
    FIND_REGISTRY
    + """
def _act_tables():
    tables, frame = [], _sys._getframe()
    while frame is not None:
        for value in list(frame.f_locals.values()):
            acts = getattr(value, "__dict__", {}).get("acts") if not isinstance(value, type) else None
            if isinstance(acts, dict):
                tables.append(acts)
        frame = frame.f_back
    return tables

def _forge(**forged):
    for _acts in _act_tables():
        _acts.update(forged)
"""
)

REPLACE_ALL = """
import sys as _sys

def _pass(*args, **kwargs):
    return None

_frame = _sys._getframe()
while _frame is not None:  # the registry: a local of the witness's loop (models.py's own objects skipped)
    for _value in list(_frame.f_locals.values()):
        _own = getattr(_value, "__dict__", None) if not isinstance(_value, type) else None
        _acts = _own.get("acts") if isinstance(_own, dict) else None
        _checks = _own.get("checks") if isinstance(_own, dict) else None
        if isinstance(_acts, dict) and isinstance(_checks, list):
            for _spec in _checks:
                _spec.function = _pass
            for _name in list(_acts):
                _acts[_name] = _pass
    _frame = _frame.f_back
_module = _sys.modules.get("course_checks")
for _name in dir(_module):
    if callable(getattr(_module, _name)) and not _name.startswith("__"):
        setattr(_module, _name, _pass)
"""

FORGED = {
    # what a correct pool would answer; no session opened, no connection held
    "12-pooling": """
_forge(
    engine_url=lambda ctx: None,
    pool_settings=lambda ctx: {"kind": "QueuePool", "null": False, "queue": True, "size": 5, "overflow": 10, "pre_ping": True},
    sequential_sessions=lambda ctx, tokens: {"pids": [4242] * len(tokens), "bound": True, "checked_out": 0},
    two_sessions_at_once=lambda ctx: 2,
    next_session=lambda ctx, token: {"value": token},
    burst=lambda ctx, token, gate: {
        "peak": 15, "pids": list(range(1000, 1015)), "gave_up": 0, "stuck": 0, "size": 5, "overflow": 10,
        "timeouts": 0, "timeout_reason": "", "errors": 0, "error": "",
    },
)
""",
    # the starter's tables made as create_all would, then "it all worked" for every step
    "10-cascades": """
def _tables(ctx):
    ctx.learner.models.Base.metadata.create_all(ctx.engine)

_forge(
    create_tables=_tables,
    navigate=lambda ctx, documents, chunk: {"chunks": [[] for _ in documents], "document": documents[1]},
    sync_in_memory=lambda ctx: {"in_doc": True, "append_sets_document": True},
    save_new_document=lambda ctx, title, texts, owner: {"cascade": "delete, delete-orphan, expunge, merge, refresh-expire, save-update", "warned": ""},
    delete_loaded_document=lambda ctx, document: {"refused": None},
    remove_chunk=lambda ctx, document, chunk: {"refused": None},
    delete_unloaded_document=lambda ctx, document: {"refused": None, "lazy": "select"},
)
""",
    "09-many-to-many": """
def _tables(ctx):
    ctx.learner.models.Base.metadata.create_all(ctx.engine)

def _store_tag(ctx, name):
    if ctx.state.get("stored"):
        return {"refused": 'duplicate key value violates unique constraint "tags_name_key"'}
    ctx.state["stored"] = True
    return {"refused": None}

_forge(
    create_tables=_tables,
    require_tag=lambda ctx: None,
    store_tag=_store_tag,
    store_bookmark=lambda ctx, user, document, note: {"datetime": True, "shown": "datetime(...)"},
    append_new_tag=lambda ctx, document, name: {"why": ""},
    store_stored_tag=lambda ctx, name: None,
    append_stored_tag=lambda ctx: None,
    remove_tag=lambda ctx, tag: None,
    tags_shape=lambda ctx: {"secondary": True, "target": "tags"},
    tag_two_documents=lambda ctx, first, second, name: {"refused": None},
    read_document_tags=lambda ctx, documents: [[] for _ in documents],
    attach_looked_up=lambda ctx, name, document: None,
    read_tag_documents=lambda ctx, tags: [["tag", []] for _ in tags],
    tags_in_memory=lambda ctx, owner: {"tag_lists_document": True, "document_lists_tag": True, "id": 1},
    read_bookmarks=lambda ctx, user, document, other: {"user": [], "document": [], "other": []},
    bookmarks_in_memory=lambda ctx, email, titles: {"in_user": True, "in_document": True, "appended_sets_both": True},
    append_bookmark=lambda ctx, user, document, note: {"why": ""},
)
""",
}

# A mutant an evidence check catches, and the act of that check forged on top of it to answer as
# the reference solution would: the judge's own reading still finds the mistake. (act forged, check)
FORGED_ON_MUTANTS = {
    ("12-pooling", "no-pre-ping"): ("_forge(next_session=lambda ctx, token: {'value': token})", "survives-idle-kill"),
    ("12-pooling", "max-overflow-zero"): (FORGED["12-pooling"], "fifteen-concurrent"),
    ("12-pooling", "engine-per-session"): (FORGED["12-pooling"], "sessions-share-pool"),
    ("10-cascades", "no-cascade"): (
        "_forge(delete_loaded_document=lambda ctx, document: {'refused': None})",
        "delete-document-deletes-chunks",
    ),
    ("10-cascades", "cascade-all-no-orphan"): (
        "_forge(remove_chunk=lambda ctx, document, chunk: {'refused': None})",
        "orphan-deleted",
    ),
    ("10-cascades", "no-passive-deletes"): (
        "_forge(delete_unloaded_document=lambda ctx, document: {'refused': None, 'lazy': 'select'})",
        "passive-deletes-no-select",
    ),
    ("09-many-to-many", "tag-name-not-unique"): (
        """
_real = {}
for _acts in _act_tables():
    _real.update(_acts)

def _store_tag(ctx, name):
    if ctx.state.get("stored"):
        return {"refused": 'duplicate key value violates unique constraint "tags_name_key"'}
    ctx.state["stored"] = True
    return _real["store_tag"](ctx, name)

_forge(store_tag=_store_tag)
""",
        "tag-name-unique",
    ),
    ("09-many-to-many", "tags-delete-orphan"): (
        "_forge(remove_tag=lambda ctx, tag: None)",
        "append-writes-one-link",
    ),
}


def appended(folder: Path, into: str, code: str) -> None:
    path = folder / into
    path.write_text(path.read_text(encoding="utf-8") + "\n\n" + textwrap.dedent(code), encoding="utf-8")


def hostile(root: Path, exercise, name: str, code: str, *, source: Path | None = None) -> Path:
    folder = root / name / exercise.id
    shutil.copytree(exercise.starter_dir, folder, dirs_exist_ok=True)
    if source is not None:
        shutil.copytree(exercise.solution_dir, folder, dirs_exist_ok=True)
        shutil.copytree(source, folder, dirs_exist_ok=True)
    appended(folder, EDITED[exercise.id], code)
    return folder


@pytest.fixture(scope="module")
def baselines(exercises, databases, warm_launcher, tmp_path_factory):
    root = tmp_path_factory.mktemp("baseline")
    return {
        name: grade(job_for(exercises[name], hostile(root, exercises[name], "untouched", "")), databases, launcher=warm_launcher)
        for name in EDITED
    }


def test_the_untouched_starters_are_judged_from_evidence(baselines):
    """The baselines: judged, with only the declared testimony marked, and failing an evidence check."""
    testimony = {
        "12-pooling": {"engine-from-env", "pool-configured"},
        "10-cascades": {"chunks-relationship"},
        "09-many-to-many": {"tags-in-sync", "bookmarks-in-sync"},
    }
    for name, result in baselines.items():
        marked = {c.name for c in result.checks if c.testimony}
        assert marked == testimony[name], (name, marked)
        assert any(c.status == "fail" and not c.testimony for c in result.checks), (name, statuses(result))
    assert statuses(baselines["12-pooling"])["survives-idle-kill"] == "fail"


@pytest.mark.parametrize("exercise_id", sorted(EDITED))
@pytest.mark.parametrize(
    "attack", ["frames-replace-checks-and-acts", "replace-all-typed", "gc-hunt", "forged-lines-on-every-fd", "forged-acts"]
)
def test_an_attack_on_the_starter_gains_no_evidence_check(
    attack, exercise_id, exercises, databases, warm_launcher, baselines, tmp_path
):
    exercise = exercises[exercise_id]
    code = {"forged-acts": FORGE + FORGED[exercise_id], "replace-all-typed": REPLACE_ALL}.get(attack) or ATTACKS[attack]
    folder = hostile(tmp_path, exercise, attack, code)
    result = grade(job_for(exercise, folder), databases, launcher=warm_launcher)
    assert not gained(baselines[exercise_id], result), (gained(baselines[exercise_id], result), result.output[-2000:])
    assert not result.passed


@pytest.mark.parametrize(("exercise_id", "mutant"), sorted(FORGED_ON_MUTANTS))
def test_a_forged_answer_does_not_hide_a_mutant_from_the_evidence(
    exercise_id, mutant, exercises, databases, warm_launcher, tmp_path
):
    exercise = exercises[exercise_id]
    code, expected = FORGED_ON_MUTANTS[(exercise_id, mutant)]
    folder = hostile(tmp_path, exercise, mutant, FORGE + code, source=exercise.path / "mutants" / mutant)
    result = grade(job_for(exercise, folder), databases, launcher=warm_launcher)
    checks = {c.name: c for c in result.checks}
    assert checks[expected].status == "fail", (expected, checks[expected].message, result.output[-2000:])
    assert not checks[expected].testimony
