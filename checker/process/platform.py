"""Which mechanism each platform-specific job uses here, and why: one place to ask.

Every job has a Linux way and a portable way (macOS, Windows); ``COURSE_PORTABLE=1`` forces the
portable way everywhere, so it is tested on Linux CI too. ``course doctor`` prints
:func:`choices`.

=====================  ===========================================  =================================
job                    Linux (and POSIX where it has it)            portable
=====================  ===========================================  =================================
start a run            fork of a warm worker                        a pool of spawned interpreters
talk to the service    unix socket (0600)                           loopback TCP with an auth key
kill a run's tree      process group, and a subreaper for orphans   walk the tree (psutil)
limits                 ``resource`` (hard)                          none (the wall clock still holds)
where servers live     RAM (``/dev/shm``) when there is room        the state folder
reach Postgres         socket folder (0700)                         127.0.0.1, free port, password
confine class runs     uid + mount namespace (root on Linux)        none (docs/security.md)
=====================  ===========================================  =================================
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from dataclasses import dataclass


def portable() -> bool:
    """``COURSE_PORTABLE=1``: the portable way for every job, even where the OS has better."""
    return os.environ.get("COURSE_PORTABLE", "") not in ("", "0")


def can_fork_workers() -> bool:
    """A warm worker forks the runs and passes them descriptors over a ``SOCK_SEQPACKET`` unix
    socket: Linux (macOS has no such socket, and forking a threaded process is unsafe there)."""
    return (
        not portable()
        and sys.platform.startswith("linux")
        and hasattr(os, "fork")
        and hasattr(socket, "send_fds")
        and hasattr(socket, "SOCK_SEQPACKET")
    )


def unix_sockets() -> bool:
    return not portable() and hasattr(socket, "AF_UNIX") and sys.platform != "win32"


def process_groups() -> bool:
    return not portable() and hasattr(os, "killpg")


def resource_limits() -> bool:
    if portable():
        return False
    try:
        import resource  # noqa: F401
    except ImportError:
        return False
    return True


def ram_folder() -> bool:
    return not portable() and sys.platform.startswith("linux") and os.path.isdir("/dev/shm")


@dataclass(frozen=True)
class Choice:
    job: str
    way: str
    why: str


def choices() -> list[Choice]:
    """What this machine uses for each job (for ``course doctor``)."""
    forced = "COURSE_PORTABLE=1" if portable() else ""

    def why(native: bool, reason: str) -> str:
        return "available" if native else (forced or reason)

    from checker.process import sandbox

    return [
        Choice(
            "start a run",
            "fork of a warm worker" if can_fork_workers() else "pool of spawned interpreters",
            why(can_fork_workers(), "no fork with descriptor passing here"),
        ),
        Choice(
            "talk to the service",
            "unix socket" if unix_sockets() else "loopback TCP with an auth key",
            why(unix_sockets(), "no unix sockets here"),
        ),
        Choice(
            "kill a run's processes",
            "process group + subreaper" if process_groups() else "process tree walk",
            why(process_groups(), "no process groups here"),
        ),
        Choice(
            "limits",
            "hard resource limits" if resource_limits() else "wall-clock time only",
            why(resource_limits(), "no resource module here"),
        ),
        Choice(
            "servers live",
            "in RAM when there is room" if ram_folder() else "in the state folder",
            why(ram_folder(), "no /dev/shm here"),
        ),
        Choice(
            "reach Postgres",
            "socket folder" if unix_sockets() else "127.0.0.1 with a password",
            why(unix_sockets(), "no unix sockets here"),
        ),
        Choice(
            "confine class grading",
            "own uid + mount namespace" if sandbox.can_confine() and not portable() else "not confined",
            "root on Linux" if sandbox.can_confine() and not portable() else (forced or "needs root on Linux (docs/security.md)"),
        ),
    ]


@contextlib.contextmanager
def locked(handle):
    """Hold an exclusive lock on the open file ``handle`` (``flock``; on Windows ``msvcrt``)."""
    try:
        import fcntl
    except ImportError:  # Windows
        fcntl = None  # type: ignore[assignment]
    if fcntl is not None:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
        return
    import msvcrt  # Windows: a lock on the file's first byte; LK_LOCK tries for 10 s, then we retry

    while True:
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
            break
        except OSError:
            continue
    try:
        yield
    finally:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
