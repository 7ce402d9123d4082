"""Stop a session's Postgres when the runner that started it goes away, however it goes.

The runner keeps the write end of this process's stdin. When the runner exits, crashes or is
killed with SIGKILL, the pipe closes, ``read`` returns, and the server is stopped and its files
deleted. Only the standard library is imported: this starts in a few milliseconds.

Usage: ``python -m course.postgres.watchdog POSTMASTER_PID SERVER_DIR``
"""

import contextlib
import os
import shutil
import signal
import sys
import time


def main(pid: int, server_dir: str) -> None:
    with contextlib.suppress(OSError):
        sys.stdin.buffer.read()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            os.kill(pid, 0)
            time.sleep(0.02)
        os.kill(pid, signal.SIGKILL)
    shutil.rmtree(server_dir, ignore_errors=True)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    main(int(sys.argv[1]), sys.argv[2])
