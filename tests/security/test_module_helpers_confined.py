"""A confined class run sees the module's helpers (exercises/<module>/_shared/helpers.py) next to
the checks, and still nothing else of the course content (a reference solution stays hidden)."""

from __future__ import annotations

from checker.process.runner import grade
from checker.process.sandbox import can_confine
from security.conftest import statuses, submission

CHECKS = """
from pathlib import Path

from checker.authoring import check
from checker.authoring.shared import ANSWER

SOLUTION = Path(__file__).resolve().parents[1] / "other-exercise" / "solution" / "mod.py"


@check("helpers-seen", "the module's helpers are importable in the confined run")
def helpers_seen(learner):
    assert learner.mod.ANSWER == ANSWER, f"ANSWER must be {ANSWER}"


@check("solution-hidden", "the rest of the content stays out of sight")
def solution_hidden(learner):
    assert not SOLUTION.exists(), "a reference solution is visible to the run"
"""


def test_the_module_helpers_are_visible_to_a_confined_run(submissions, class_session, class_launcher):
    job = submission(submissions, "helpers", "ANSWER = 42\n", checks=CHECKS)
    shared = job.checks_file.parents[1] / "_shared"
    shared.mkdir(exist_ok=True)
    (shared / "helpers.py").write_text("ANSWER = 42\n", encoding="utf-8")
    solution = job.checks_file.parents[1] / "other-exercise" / "solution"
    solution.mkdir(parents=True, exist_ok=True)
    (solution / "mod.py").write_text("ANSWER = 42\n", encoding="utf-8")
    result = grade(job, class_session, launcher=class_launcher)
    checks = statuses(result)
    assert checks["helpers-seen"] == "pass", [c.message for c in result.checks]
    if can_confine():  # confined (Linux, root): the content root is covered but for checks.py and the helpers
        assert checks["solution-hidden"] == "pass", [c.message for c in result.checks]
