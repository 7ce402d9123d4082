"""A server that dies in the middle of a run is reported as the server's death, not blamed on the
learner's code."""

from __future__ import annotations

import os
import signal
import threading

from checker.process.launch import ColdLauncher
from checker.process.runner import grade
from security.conftest import submission


def test_a_server_that_dies_mid_run_is_named_as_the_cause(submissions):
    from course.postgres.session import open_session

    session = open_session("embedded", spares=0)
    try:
        # its pid file: without CAP_SYS_PTRACE (a container) root cannot read /proc/<pid>/cwd of the
        # server's user, so server.pid() does not vouch for it
        pid = session.server.pid() or int((session.server.data_dir / "postmaster.pid").read_text(encoding="utf-8").split()[0])
        job = submission(submissions, "server-dies", "import time\ntime.sleep(3)\ndef run():\n    pass\n")
        threading.Timer(1.0, lambda: os.kill(pid, signal.SIGKILL)).start()
        result = grade(job, session, launcher=ColdLauncher())
        messages = " ".join(c.message for c in result.checks)
        assert result.status == "error"
        assert "Postgres server stopped" in messages, messages
        assert "sys.exit" not in messages, messages
    finally:
        session.close()
