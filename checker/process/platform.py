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
start/stop Postgres    ``postgres`` as our child, SIGINT/SIGKILL    ``pg_ctl`` (Windows: as a non-admin)
liveness of a pid      ``kill(pid, 0)`` and reaping (``WNOHANG``)   psutil
confine class runs     uid + mount namespace (root on Linux)        none (docs/security.md)
=====================  ===========================================  =================================

Besides the jobs: who we are (:func:`user_tag`), free disk space (:func:`disk_free`), file modes
(:func:`restrict`), the Ctrl-C / Ctrl-Break signals (:func:`interrupt_signals`), a detached child
(:func:`detached`), the longest unix-socket path (:func:`socket_path_limit`). The Linux-only
paths (the forked warm worker, class-run confinement) keep their POSIX calls: the portable paths
never reach them. ``tests/foreign`` runs the project's code with the POSIX-only names taken away
(as on Windows) and without ``/proc`` (as on macOS), so a new POSIX-only call on a portable path
fails there.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import NamedTuple


def portable() -> bool:
    """``COURSE_PORTABLE=1``: the portable way for every job, even where the OS has better."""
    return os.environ.get("COURSE_PORTABLE", "") not in ("", "0")


def can_fork_workers() -> bool:
    """A warm worker forks the runs and passes them descriptors over a ``SOCK_SEQPACKET`` unix
    socket: Linux (macOS has no such socket, and forking a threaded process is unsafe there)."""
    import socket

    return (
        not portable()
        and sys.platform.startswith("linux")
        and hasattr(os, "fork")
        and hasattr(socket, "send_fds")
        and hasattr(socket, "SOCK_SEQPACKET")
    )


def unix_sockets() -> bool:
    import socket

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


def posix_processes() -> bool:
    """``kill(pid, 0)`` probes, ``waitpid(WNOHANG)`` reaps and SIGKILL exists (not Windows, where
    ``os.kill(pid, 0)`` sends CTRL_C_EVENT and any other signal is TerminateProcess)."""
    return sys.platform != "win32" and hasattr(os, "WNOHANG") and hasattr(signal, "SIGKILL")


def postgres_by_pg_ctl() -> bool:
    """Start and stop Postgres with ``pg_ctl``: on Windows (``postgres.exe`` started directly
    refuses an administrator's token; ``pg_ctl`` drops it, and delivers signals the Windows way),
    wherever POSIX signals are missing, and in the portable mode."""
    return portable() or not posix_processes()


def fork_is_safe() -> bool:
    """``fork`` of a process that has imported libraries (and may hold threads): Linux. macOS has
    ``fork``, but a forked child that touches system frameworks may crash there."""
    return hasattr(os, "fork") and sys.platform.startswith("linux")


def pipes_pollable() -> bool:
    """``select`` works on pipes (POSIX; Windows selects sockets only, and has no ``poll``)."""
    import select

    return not portable() and hasattr(select, "poll")


def file_modes() -> bool:
    """Whether ``chmod 0o600/0o700`` keeps other users out (POSIX; Windows has ACLs instead)."""
    return hasattr(os, "getuid") and sys.platform != "win32"


# -- who we are, where things go ---------------------------------------------------------------


def user_tag() -> str:
    """A per-user name for shared folders: the uid where there is one, else the login name made
    safe for a file name (Windows)."""
    import getpass

    if hasattr(os, "getuid"):
        return str(os.getuid())
    try:
        name = getpass.getuser()
    except (OSError, KeyError, ImportError):  # no name in the environment, nor a database to ask
        name = ""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:32] or "user"


def effective_uid() -> int | None:
    return os.geteuid() if hasattr(os, "geteuid") else None


def disk_free(path: str | os.PathLike[str]) -> int:
    """Free bytes for us on the disk of ``path`` (which must exist)."""
    import shutil

    return shutil.disk_usage(path).free


def restrict(path: Path, mode: int) -> None:
    """``chmod`` where file modes mean something; elsewhere (Windows) the user's profile folders
    are private already, and a mode is no protection."""
    if file_modes():
        path.chmod(mode)


def restrict_descriptor(fd: int, mode: int) -> None:
    """``fchmod`` where file modes mean something (and exist: Windows has no ``os.fchmod`` before
    Python 3.13)."""
    if file_modes() and hasattr(os, "fchmod"):
        os.fchmod(fd, mode)


def socket_path_limit() -> int:
    """The longest unix-socket path (bytes, without the final NUL): ``sun_path`` is 108 bytes on
    Linux, 104 on macOS and the BSDs."""
    return 107 if sys.platform.startswith("linux") else 103


def short_folder(key: str) -> Path:
    """A short folder name for unix sockets whose usual place has too long a path (macOS:
    ``$TMPDIR`` is ``/var/folders/xx/<30 characters>/T``): ``/tmp/course-<user>-<hash of key>``."""
    import hashlib

    return Path("/tmp") / f"course-{user_tag()}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def make_private_folder(folder: Path) -> Path:
    """Create ``folder`` (0700), or accept it if it exists as a private folder of ours; refuse one
    that another user made (``/tmp`` is everyone's), or that others may enter."""
    import stat as stat_module

    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700)
    info = folder.lstat()
    if (
        not stat_module.S_ISDIR(info.st_mode)
        or (effective_uid() is not None and info.st_uid != effective_uid())
        or (file_modes() and info.st_mode & 0o077)
    ):
        raise PermissionError(f"{folder} exists but is not a private folder of this user")
    return folder


# -- processes ---------------------------------------------------------------------------------


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie child of ours is reaped and counts as gone)."""
    if pid <= 0:
        return False
    if posix_processes():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        # a zombie child of ours still "exists"; reap it so it does not count as running
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # not ours (a server started by pg_ctl, adopted by init): a zombie is gone too
            return not _zombie(pid)
        return done != pid
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:  # another user's process: it exists
        return True


def _zombie(pid: int) -> bool:
    try:
        import psutil

        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except Exception:  # gone meanwhile (a NoSuchProcess: the next probe says so), or no psutil
        return False


def kill_hard(pid: int) -> None:
    """End ``pid`` at once (SIGKILL; Windows: TerminateProcess); gone already is fine."""
    if posix_processes():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
        return
    import psutil

    with contextlib.suppress(psutil.Error):
        psutil.Process(pid).kill()


def kill_tree(pid: int) -> None:
    """Kill ``pid`` and all its descendants, without process groups (the portable way)."""
    import psutil

    try:
        root = psutil.Process(pid)
        family = [*root.children(recursive=True), root]
    except psutil.Error:
        return
    for process in family:
        with contextlib.suppress(psutil.Error):
            process.kill()


def detached() -> dict:
    """``Popen`` options for a child that a Ctrl-C (Ctrl-Break) in our terminal does not reach:
    a session of its own (POSIX), a process group of its own (Windows)."""
    import subprocess

    if sys.platform == "win32":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    if hasattr(os, "setsid"):
        return {"start_new_session": True}
    return {}


def interrupt_signals() -> list[int]:
    """The signals a user sends from the terminal to stop us: Ctrl-C, and Ctrl-Break in a
    Windows console (``SIGBREAK``)."""
    return [signal.SIGINT] + ([signal.SIGBREAK] if hasattr(signal, "SIGBREAK") else [])  # type: ignore[attr-defined]


def wait_gone(pid: int, timeout: float) -> bool:
    """Wait until ``pid`` is gone; True if it went within ``timeout``."""
    deadline = time.monotonic() + timeout
    while process_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


class Choice(NamedTuple):  # not a dataclass: this module is imported by `course --help`
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
            "start/stop Postgres",
            "pg_ctl" if postgres_by_pg_ctl() else "postgres as our child, POSIX signals",
            (forced or "Windows, or no POSIX signals here") if postgres_by_pg_ctl() else "available",
        ),
        Choice(
            "see if a process runs",
            "kill(pid, 0) and waitpid" if posix_processes() else "psutil",
            "available" if posix_processes() else "no POSIX process probing here",
        ),
        Choice(
            "confine class grading",
            {sandbox.NAMESPACES: "own uid + mount namespace", sandbox.OWN_UID: "own uid, no mount namespace"}.get(
                sandbox.isolation().level, "not confined"
            ),
            sandbox.isolation().why or "root on Linux",
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
