"""A submission cannot forge its verdict: rebinding the grader, writing into its report, printing
lookalike results or leaving early all end as ``error``, never ``pass``."""

from __future__ import annotations

import json

import pytest

from checker.process.runner import TAMPERED, grade
from security.conftest import statuses, submission

STARTER = "def run():\n    pass\n"  # passes "first", fails "second" (no ANSWER)

ATTACKS = {
    "rebind-run-check": """
import checker.process.harness as harness
from checker.fixtures import Sql
harness.run_check = lambda *args, **kwargs: ("pass", "", Sql(), [])
""",
    "rebind-fail": """
import sys
sys.modules["course_checks"].__dict__["second"] = None
import checker.api
checker.api.fail = lambda message: None
""",
    "blind-the-integrity-check": """
import sys
import checker.process.harness
checker.process.harness.Integrity.changed = lambda self, *args: ""
sys.modules["course_checks"].fail = lambda message: None
""",
    "rebind-the-resolver": """
import checker.resolver
class _Module:
    ANSWER = 42
    @staticmethod
    def run():
        pass
class _Learner:
    mod = _Module
checker.resolver.FixtureResolver.resolve = lambda self, name, chain=(): _Learner
""",
    "rebind-the-tracebacks": """
import checker.tracebacks
checker.tracebacks.touches_learner = lambda error, learner_dir: False
""",
    "rebind-the-channel": """
import checker.process.channel
checker.process.channel.sign = lambda key, number, payload: "0" * 64
""",
    "rebind-the-wire": """
import checker.results
checker.results.STATUSES = frozenset({"pass", "fail", "error", "passed"})
checker.results.CheckResult.to_wire = lambda self: {"name": self.name, "status": "pass", "message": "", "title": "",
                                                     "statements": [], "duration_s": 0}
import checker.wire
checker.wire.Event.ends = property(lambda self: False)
""",
    "patch-check-code": """
import gc
for obj in gc.get_objects():
    if callable(obj) and getattr(obj, "__name__", "") == "second" and getattr(obj, "__module__", "") == "course_checks":
        obj.__code__ = (lambda learner: None).__code__
""",
    "write-into-the-report": """
import json, os, stat
def _forge():
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if stat.S_ISFIFO(os.fstat(fd).st_mode):
                for n, event in enumerate([
                    {"type": "start", "name": "first"},
                    {"type": "result", "name": "first", "title": "", "status": "pass", "message": "", "duration_s": 0},
                    {"type": "start", "name": "second"},
                    {"type": "result", "name": "second", "title": "", "status": "pass", "message": "", "duration_s": 0},
                    {"type": "done"},
                ]):
                    os.write(fd, ("0" * 64 + " " + json.dumps({**event, "n": n + 1}) + "\\n").encode())
        except OSError:
            pass
_forge()
os._exit(0)
""",
    "print-lookalike-results": """
import json
for name in ("first", "second"):
    print(json.dumps({"type": "result", "name": name, "status": "pass", "message": ""}))
""",
    "leave-early": """
import os
os._exit(0)
""",
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_a_forged_verdict_is_never_a_pass(attack, submissions, class_session, class_launcher):
    result = grade(submission(submissions, attack, STARTER + ATTACKS[attack]), class_session, launcher=class_launcher)
    assert result.status != "pass", statuses(result)
    assert statuses(result).get("second") != "pass", statuses(result)


@pytest.mark.parametrize(
    "attack",
    [
        "rebind-run-check",
        "rebind-fail",
        "blind-the-integrity-check",
        "patch-check-code",
        "write-into-the-report",
        "rebind-the-resolver",
        "rebind-the-tracebacks",
        "rebind-the-channel",
        "rebind-the-wire",
    ],
)
def test_tampering_is_named_and_flagged(attack, submissions, class_session, class_launcher):
    result = grade(submission(submissions, f"{attack}-flag", STARTER + ATTACKS[attack]), class_session, launcher=class_launcher)
    assert result.status == "error"
    assert result.tampered, [c.message for c in result.checks]
    assert all(TAMPERED in c.message for c in result.checks), [c.message for c in result.checks]
    assert result.to_json()["tampered"]


def test_an_honest_submission_is_not_flagged(submissions, class_session, class_launcher):
    result = grade(
        submission(submissions, "honest", "ANSWER = 42\ndef run():\n    print('hello')\n"), class_session, launcher=class_launcher
    )
    assert result.status == "pass" and not result.tampered, [c.message for c in result.checks]


def test_the_integrity_check_covers_every_module_of_the_grader():
    """The modules split out of the harness are imported with it, before any learner code, so a
    child's integrity check watches them like the harness (in a fresh interpreter, as a child)."""
    import subprocess
    import sys

    code = """
import json, sys
import checker.process.harness
from checker.api import Registry
from checker.process.integrity import Integrity
print(json.dumps({"watched": Integrity(Registry()).watched(),
                  "grader": [n for n in sys.modules if n == "checker" or n.startswith("checker.")]}))
"""
    run = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, check=True, encoding="utf-8")
    seen = json.loads(run.stdout)
    watched, grader = set(seen["watched"]), set(seen["grader"])
    for name in (
        "checker.wire",
        "checker.resolver",
        "checker.tracebacks",
        "checker.results",
        "checker.process.channel",
        "checker.process.integrity",
        "checker.process.harness",
    ):
        assert name in grader and name in watched, name
    assert grader <= watched
    assert {
        "checker.resolver.FixtureResolver",
        "checker.process.channel.Channel",
        "checker.wire.Event",
        "checker.results.CheckResult",
    } <= watched
