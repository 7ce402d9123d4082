"""Stop a session's Postgres when the runner that started it goes away, however it goes.

The runner keeps the write end of this process's stdin. When the runner exits, crashes or is
killed (SIGKILL, or the Task Manager), the pipe closes, ``read`` returns, and the server is
stopped and its files deleted. Only the standard library is imported: this starts in a few
milliseconds.

Usage: ``python -m course.postgres.watchdog POSTMASTER_PID SERVER_DIR [--pg-ctl PG_CTL] [--sockets DIR]``

``--pg-ctl``: stop the server with ``pg_ctl`` (Windows, where POSIX signals are missing; the
postmaster's pid is then read from its pid file, ``POSTMASTER_PID`` may be 0). ``--sockets``: the
short socket folder of a server whose own folder's path is too long for a socket (macOS).
"""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from typing import Any


def main(pid: int, server_dir: str, pg_ctl: str | None = None, sockets: str | None = None) -> None:
    with contextlib.suppress(OSError):
        sys.stdin.buffer.read()
    if pg_ctl:
        _stop_with_pg_ctl(pg_ctl, os.path.join(server_dir, "data"))
    else:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGINT)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                os.kill(pid, 0)
                time.sleep(0.02)
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(server_dir, ignore_errors=True)
    if sockets:
        shutil.rmtree(sockets, ignore_errors=True)


def _stop_with_pg_ctl(pg_ctl: str, data: str) -> None:
    """``pg_ctl stop -m fast``, then ``pg_ctl kill KILL`` if the server outlives 10 s."""
    # pg_ctl refuses to run as root; the server then runs as "nobody" (see embedded.start)
    user: dict[str, Any] = {"user": 65534, "group": 65534, "extra_groups": []} if getattr(os, "geteuid", lambda: 1)() == 0 else {}
    quiet: dict[str, Any] = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, **user}
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(
            [pg_ctl, "stop", "-D", data, "-m", "fast", "-w", "-t", "10", "-s"], timeout=20, check=False, **quiet
        )
        if done.returncode == 0:
            return
        with open(os.path.join(data, "postmaster.pid"), encoding="utf-8") as handle:
            postmaster = handle.readline().strip()
        subprocess.run([pg_ctl, "kill", "KILL", postmaster], timeout=10, check=False, **quiet)


def _arguments(argv: list[str]) -> tuple[int, str, str | None, str | None]:
    options: dict[str, str | None] = {"--pg-ctl": None, "--sockets": None}
    rest = []
    while argv:
        word = argv.pop(0)
        if word in options and argv:
            options[word] = argv.pop(0)
        else:
            rest.append(word)
    return int(rest[0]), rest[1], options["--pg-ctl"], options["--sockets"]


if __name__ == "__main__":
    for interrupt in ("SIGINT", "SIGBREAK"):  # a Ctrl-C (Ctrl-Break) in the runner's terminal is not for us
        if hasattr(signal, interrupt):
            signal.signal(getattr(signal, interrupt), signal.SIG_IGN)
    main(*_arguments(sys.argv[1:]))
