"""The learner's process is a witness, the judge decides (issue 22): attacks appended to an untouched
starter of a judged exercise (02-models, 05-relationships) never turn an evidence check to
``pass`` that the starter does not pass itself.

Each attack runs in the learner's process, as a hostile student's code would: it walks the frames
and replaces the checks' functions and the acts, hunts the grader's objects with ``gc``, writes
with ``ctypes``, installs import hooks, ships ``sitecustomize.py`` and modules named like the
grader's in the exercise folder, registers ``atexit`` handlers, starts threads, sends signals,
writes forged report lines on every descriptor, answers the acts with forged "correct" data
(the rules of the seed are in the source it can read; the ids are drawn per run), and trickles an
endless reply. Graded the way ``course check`` grades (a warm worker, the run's own server with
its statement log) and, as root, the way ``course grade`` does (confined).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from checker.process.runner import grade
from course.grading.session import job_for
from security.conftest import starter_with, statuses

FIND_REGISTRY = """
import sys as _sys

def _registries():
    found, frame = [], _sys._getframe()
    while frame is not None:
        for value in list(frame.f_locals.values()):
            own = getattr(value, "__dict__", None)  # exact: SQLAlchemy's `func` answers every attribute
            if isinstance(own, dict) and isinstance(own.get("acts"), dict) and isinstance(own.get("checks"), list):
                found.append(value)
        frame = frame.f_back
    return found
"""

FORGED_05 = """
def _forged_navigate(ctx, users, documents):  # the seed's rule, read from the helpers: no SQL at all
    return {"documents": [[u * 100 + n for n in range(1, u % 4 + 1)] for u in users], "owners": list(users)}

def _ids(ctx):
    from sqlalchemy import text
    with ctx.engine.connect() as conn:
        return sorted(conn.execute(text("SELECT id FROM users")).scalars())

def _forged_documents(ctx):
    return [[u, [u * 100 + n for n in range(1, u % 4 + 1)]] for u in _ids(ctx)]

def _forged_load(ctx):
    ctx.state["ids"] = _ids(ctx)
    return {"users": len(ctx.state["ids"]), "expired": 0}

def _forged_touch(ctx):
    return [[u, [u * 100 + n for n in range(1, u % 4 + 1)]] for u in ctx.state.pop("ids")]

def _forged_sync(ctx):
    return {"append_sets_owner": True, "owner_after_append": "", "owner_sets_collection": True, "move_leaves_first": True}

for _registry in _registries():
    _registry.acts.update(
        navigate=_forged_navigate, returned_documents=_forged_documents, returned_ids=_ids,
        load_users=_forged_load, touch_documents=_forged_touch, sync_in_memory=_forged_sync,
    )
"""

ATTACKS = {
    "frames-replace-checks-and-acts": FIND_REGISTRY
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
""",
    "gc-hunt": """
import gc as _gc
from checker.api import CheckSpec as _CheckSpec
for _object in _gc.get_objects():
    if isinstance(_object, _CheckSpec):
        _object.function = lambda *args, **kwargs: None
    if callable(_object) and getattr(_object, "__name__", "") in ("send", "write_line") and getattr(_object, "__closure__", None):
        for _kind in ("result", "done"):
            try:
                _object(_kind, name="navigate-both-ways", status="pass", message="")
            except Exception:
                pass
""",
    "ctypes-writes": """
import ctypes as _ctypes
import checker.api as _api
_libc = _ctypes.CDLL(None)
_line = b'0' * 64 + b' {"type": "result", "n": 1, "name": "no-n-plus-one", "status": "pass"}\\n'
for _fd in range(0, 256):
    _libc.write(_fd, _line, len(_line))
_ctypes.pythonapi.PyObject_SetAttrString.argtypes = [_ctypes.py_object, _ctypes.c_char_p, _ctypes.py_object]
_ctypes.pythonapi.PyObject_SetAttrString(_api, b"fail", lambda message: None)
""",
    "import-hooks": """
import sys as _sys
import importlib.abc as _abc
import importlib.machinery as _machinery
class _Fake(_abc.Loader):
    def create_module(self, spec):
        return None
    def exec_module(self, module):
        module.check = lambda *a, **k: (lambda f: f)
        module.act = lambda f: f
        module.fail = lambda message: None
class _Hook(_abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.startswith("checker") or name == "course_checks":
            return _machinery.ModuleSpec(name, _Fake())
        return None
_sys.meta_path.insert(0, _Hook())
for _name in [n for n in _sys.modules if n.startswith("checker.api") or n == "course_checks"]:
    del _sys.modules[_name]
""",
    "atexit-and-threads": """
import atexit as _atexit
import os as _os
import threading as _threading
import time as _time
_forged = b'{"type": "result", "name": "no-n-plus-one", "status": "pass", "message": ""}\\n{"ok": [], "hints": []}\\n'
def _spray():
    for _fd in range(3, 256):
        try:
            _os.write(_fd, _forged)
        except OSError:
            pass
_atexit.register(_spray)
def _forever():
    while True:
        _spray()
        _time.sleep(0.05)
_threading.Thread(target=_forever, daemon=True).start()
""",
    "signals": """
import os as _os
import signal as _signal
for _sig in (_signal.SIGSTOP, _signal.SIGTSTP, _signal.SIGUSR1):
    try:
        _os.kill(_os.getppid(), _sig)
    except OSError:
        pass
_signal.signal(_signal.SIGTERM, _signal.SIG_IGN)
""",
    "forged-lines-on-every-fd": """
import os as _os
import secrets as _secrets
for _n in range(6):
    _line = (_secrets.token_hex(32) + ' {"type": "result", "n": %d, "name": "no-n-plus-one", "status": "pass"}\\n' % _n).encode()
    for _fd in range(0, 1024):
        try:
            _os.write(_fd, _line)
        except OSError:
            pass
""",
    "forged-act-answers": FIND_REGISTRY + FORGED_05,
}

SHADOWS = {
    "sitecustomize.py": 'import os\nos.environ[\'COURSE_FORGED\'] = \'1\'\nprint(\'{"type": "result", "status": "pass"}\')\n',
    "usercustomize.py": "raise SystemExit(0)\n",
    "course_checks.py": "from checker.api import check\n",
    "checker/__init__.py": "def check(*a, **k):\n    return lambda f: f\n\nact = fail = fixture = lambda *a, **k: None\n",
    "checker/api.py": "def fail(message):\n    return None\n",
    "checker/judge/__init__.py": "",
    "checker/judge/process.py": "def run_child(*args):\n    print('forged')\n",
}


def hostile_folder(root: Path, exercise, attack: str, *, into: str) -> Path:
    return starter_with(root, exercise, attack, into, ATTACKS.get(attack, ""))


def gained(starter, attacked) -> list[str]:
    """Evidence checks the attacked starter passes while the untouched starter does not, and
    checks whose evidence the attack turned into testimony."""
    before = {c.name: c for c in starter.checks}
    wrong = []
    for check in attacked.checks:
        baseline = before.get(check.name)
        if baseline is None or baseline.testimony:
            continue
        if check.evidence != "evidence":
            wrong.append(f"{check.name}: {check.evidence}")
        elif check.passed and not baseline.passed:
            wrong.append(f"{check.name}: pass ({check.message[:200]})")
    return wrong


@pytest.fixture(scope="module")
def baselines(exercises, databases, warm_launcher, tmp_path_factory):
    root = tmp_path_factory.mktemp("baseline")
    results = {}
    for name, into in (("05-relationships", "queries.py"), ("02-models", "models.py")):
        exercise = exercises[name]
        folder = hostile_folder(root, exercise, "untouched", into=into)
        results[name] = grade(job_for(exercise, folder), databases, launcher=warm_launcher)
    return results


def test_the_untouched_starters_are_judged_from_evidence(baselines):
    """The baselines themselves: judged (evidence), with the declared testimony marked."""
    relationships = {c.name: c for c in baselines["05-relationships"].checks}
    assert relationships["back-populates-sync"].testimony
    assert all(not c.testimony for n, c in relationships.items() if n != "back-populates-sync"), relationships
    assert statuses(baselines["05-relationships"])["no-n-plus-one"] == "fail"
    models = {c.name: c for c in baselines["02-models"].checks}
    assert models["base-is-declarative"].testimony and not models["users-table"].testimony
    assert statuses(baselines["02-models"])["users-table"] == "fail"


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_an_attack_in_the_learners_process_gains_no_evidence_check(
    attack, exercises, databases, warm_launcher, baselines, tmp_path
):
    exercise = exercises["05-relationships"]
    folder = hostile_folder(tmp_path, exercise, attack, into="queries.py")
    result = grade(job_for(exercise, folder), databases, launcher=warm_launcher)
    assert not gained(baselines["05-relationships"], result), (
        gained(baselines["05-relationships"], result),
        result.output[-2000:],
    )
    assert not result.passed


@pytest.mark.parametrize("attack", ["frames-replace-checks-and-acts", "gc-hunt", "forged-lines-on-every-fd"])
def test_the_schema_exercise_is_not_forged_either(attack, exercises, databases, warm_launcher, baselines, tmp_path):
    exercise = exercises["02-models"]
    folder = hostile_folder(tmp_path, exercise, attack, into="models.py")
    result = grade(job_for(exercise, folder), databases, launcher=warm_launcher)
    assert not any("cannot import" in c.message or "not iterable" in c.message for c in result.checks), (
        "the attack itself broke before it ran",
        [c.message[:200] for c in result.checks],
    )
    assert not gained(baselines["02-models"], result), gained(baselines["02-models"], result)
    assert statuses(result)["users-table"] != "pass"


def test_the_forged_answers_are_caught_by_what_postgres_received(exercises, databases, warm_launcher, tmp_path):
    """An act answering from the seed's rule (the ids are passed to it) or from one bare SELECT of
    the users: the data is right, the SQL Postgres received is not that of loading it."""
    exercise = exercises["05-relationships"]
    folder = hostile_folder(tmp_path, exercise, "forged-act-answers", into="queries.py")
    result = grade(job_for(exercise, folder), databases, launcher=warm_launcher)
    checks = {c.name: c for c in result.checks}
    assert checks["navigate-both-ways"].status == "fail"
    assert "Postgres received no SELECT from documents" in checks["navigate-both-ways"].message
    assert checks["documents-loaded"].status == "fail"
    assert checks["no-n-plus-one"].status == "fail"
    assert checks["back-populates-sync"].status == "pass" and checks["back-populates-sync"].testimony  # forged testimony: said so


def test_modules_named_like_the_graders_in_the_folder_change_nothing(exercises, databases, warm_launcher, baselines, tmp_path):
    exercise = exercises["05-relationships"]
    folder = hostile_folder(tmp_path, exercise, "shadows", into="queries.py")
    for name, text in SHADOWS.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    result = grade(job_for(exercise, folder), databases, launcher=warm_launcher)
    assert not gained(baselines["05-relationships"], result)
    assert statuses(result) == statuses(baselines["05-relationships"]), result.checks


def test_an_endless_trickle_reply_ends_at_the_checks_deadline(exercises, databases, warm_launcher, tmp_path):
    import dataclasses

    exercise = exercises["05-relationships"]
    folder = hostile_folder(tmp_path, exercise, "trickle", into="queries.py")
    trickle = FIND_REGISTRY + textwrap.dedent(
        """
        import os as _os
        import time as _time

        def _replies_fd():
            frame = _sys._getframe()
            while frame is not None:
                if frame.f_code.co_name == "serve" and "replies" in frame.f_locals:
                    return frame.f_locals["replies"]
                frame = frame.f_back

        _FD = _replies_fd()

        def _trickle(ctx, *args):
            while True:
                _os.write(_FD, b"[")
                _time.sleep(0.01)

        for _registry in _registries():
            for _name in list(_registry.acts):
                _registry.acts[_name] = _trickle
        """
    )
    with open(folder / "queries.py", "a", encoding="utf-8") as handle:
        handle.write("\n" + trickle)
    job = dataclasses.replace(job_for(exercise, folder), only=("no-n-plus-one",), check_timeout_s=3)
    started = time.monotonic()
    result = grade(job, databases, launcher=warm_launcher)
    assert time.monotonic() - started < 20
    assert statuses(result) == {"no-n-plus-one": "error"}, result.checks
    assert "timed out" in result.checks[0].message


@pytest.mark.root
@pytest.mark.parametrize(
    "attack", ["frames-replace-checks-and-acts", "forged-act-answers", "signals", "forged-lines-on-every-fd"]
)
def test_confined_as_course_grade_confines(attack, exercises, class_session, class_launcher, baselines, tmp_path):
    """``course grade`` as root: the witness in a uid and namespaces of its own, the judge keeps the grader's."""
    exercise = exercises["05-relationships"]
    folder = hostile_folder(tmp_path, exercise, attack, into="queries.py")
    queries = folder / "queries.py"  # first: the attack may flood the output
    spy = "import os as _o\nprint('WITNESS-UID', _o.getuid(), flush=True)\n"
    queries.write_text(spy + queries.read_text(encoding="utf-8"), encoding="utf-8")
    result = grade(job_for(exercise, folder), class_session, launcher=class_launcher)
    assert not gained(baselines["05-relationships"], result), (
        gained(baselines["05-relationships"], result),
        result.output[-2000:],
    )
    assert statuses(result)["no-n-plus-one"] != "pass"
    seen = [line.split() for line in result.output.splitlines() if line.startswith("WITNESS-UID")]
    assert seen and all(int(words[1]) != 0 for words in seen), result.output[-2000:]  # the learner's code: a uid of its own


def test_course_check_json_says_which_checks_are_evidence(exercises, tmp_path):
    """The real CLI: the frame-walking attack on 05's starter, ``course check --json``: no evidence
    check passes, and each check carries the extra ``evidence`` key."""
    exercise = exercises["05-relationships"]
    workspace = tmp_path / "ws"
    environment = {**os.environ, "COURSE_WORKSPACE": str(workspace)}
    subprocess.run([sys.executable, "-m", "course.cli", "init"], env=environment, capture_output=True, check=True, timeout=120)
    target = workspace / exercise.module_id / exercise.id / "queries.py"
    target.write_text(
        target.read_text(encoding="utf-8") + "\n" + textwrap.dedent(ATTACKS["frames-replace-checks-and-acts"]), encoding="utf-8"
    )
    done = subprocess.run(
        [sys.executable, "-m", "course.cli", "check", "05", "--json"],
        env=environment,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=180,
    )
    data = json.loads(done.stdout)
    assert data["status"] != "pass", done.stdout
    evidence = {c["name"]: c["evidence"] for c in data["checks"]}
    assert evidence["back-populates-sync"] == "testimony"
    assert evidence["no-n-plus-one"] == "evidence"
    assert all(
        c["status"] != "pass" for c in data["checks"] if c["evidence"] == "evidence" and c["name"] != "users-ordered-by-id"
    )
