"""Learner code that stops or kills the worker it was forked from does not stop grading: the
runner gives a silent worker up from outside and goes on with a fresh one."""

from __future__ import annotations

import os
import signal

import pytest

from checker.process.launch import WarmWorker
from checker.process.runner import grade
from security.conftest import statuses, submission

ATTACKS = {
    "stop-the-worker": "import os, signal\nos.kill(os.getppid(), signal.SIGSTOP)\n",
    "kill-the-worker": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n",
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_grading_goes_on_after_the_worker_is_stopped_or_killed(attack, submissions, class_session):
    worker = WarmWorker()  # not confined: learner code may signal it (as the same user could)
    try:
        hostile = grade(
            submission(submissions, attack, ATTACKS[attack] + "def run():\n    pass\n"), class_session, launcher=worker
        )
        assert hostile.status != "pass" or statuses(hostile)["second"] != "pass"
        honest = grade(
            submission(submissions, f"after-{attack}", "ANSWER = 42\ndef run():\n    pass\n"), class_session, launcher=worker
        )
        assert honest.status == "pass", [c.message for c in honest.checks]
    finally:
        if worker._process.poll() is None:
            os.kill(worker._process.pid, signal.SIGCONT)
        worker.close()
