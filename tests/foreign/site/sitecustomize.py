"""The foreign-platform view: the project's own code, on Linux, as it would find Windows or macOS.

Python imports ``sitecustomize`` at start-up from ``sys.path``; the tier's fixture puts this
folder on ``PYTHONPATH`` and sets ``FOREIGN_PLATFORM`` (a name without the ``COURSE_`` prefix:
grading children, which drop the runner's ``COURSE_*`` settings, keep it), so every Python
process of a ``course`` command — the CLI, its watchdog, the grading service, the spawned
grading interpreters — runs under it.

Only modules of ``course`` and ``checker`` (by ``__name__``, or ``__spec__.name`` for
``python -m``) see the difference; the standard library and the dependencies keep what Linux
gives them (they need it here, and have their own Windows and macOS code):

``FOREIGN_PLATFORM=windows``
    ``os``, ``signal``, ``socket`` and ``select`` are proxies without the names CPython lacks on
    Windows (``os.getuid``, ``os.statvfs``, ``os.fork``, ``os.killpg``, ``os.WNOHANG``,
    ``signal.SIGKILL``, ``socket.AF_UNIX``, ``select.poll`` ...); ``import fcntl`` (``resource``,
    ``pwd``, ``termios`` ...) raises ImportError; ``os.kill(pid, 0)`` and ``os.kill(pid, SIGINT)``
    fail loudly (on Windows 0 is CTRL_C_EVENT, and SIGINT is TerminateProcess: neither is what
    a POSIX reader means), ``os.kill(pid, SIGTERM)`` kills at once as TerminateProcess does;
    ``subprocess`` refuses ``start_new_session``, ``pass_fds`` and ``preexec_fn`` from them
    (Windows ignores the first, rejects the others).
``FOREIGN_PLATFORM=macos``
    ``sys.platform`` is ``"darwin"``; the Linux-only names are gone (``os.sched_getaffinity``,
    ``os.memfd_create``, ``select.epoll`` ...).
Both
    ``/proc`` and ``/dev/shm`` do not exist for them (``stat``, ``open``, ``listdir``,
    ``scandir``, ``readlink``, ``access`` — also through ``pathlib`` and ``os.path``).

``FOREIGN_ALSO``: more folders (``os.pathsep``-separated) whose modules get the same view — the
tier collects the test suite that way, to prove that collection never fails on another OS.

Where a call is made from is read off the stack: the first frame outside the standard library
(and outside this file) decides, so ``Path("/proc").exists()`` in ``course`` sees no ``/proc``
while psutil, called by ``course``, still reads it.
"""

from __future__ import annotations

import builtins
import io
import os
import subprocess
import sys
import types

MODE = os.environ.get("FOREIGN_PLATFORM", "")

WINDOWS_HIDDEN = {
    "os": """getuid geteuid getgid getegid getgroups setuid seteuid setgid setegid setgroups initgroups getgrouplist
        getresuid getresgid setresuid setresgid setreuid setregid getpgid setpgid getpgrp setpgrp setsid getsid killpg
        fork forkpty wait wait3 wait4 waitid WNOHANG WUNTRACED WCONTINUED WIFSIGNALED WIFEXITED WEXITSTATUS WTERMSIG
        WIFSTOPPED WSTOPSIG WIFCONTINUED WCOREDUMP statvfs fstatvfs chown lchown fchown fchmod lchmod chroot mkfifo mknod major
        minor makedev getloadavg sysconf sysconf_names confstr confstr_names pathconf fpathconf pathconf_names sync nice
        getpriority setpriority openpty ttyname ctermid register_at_fork sched_getaffinity sched_setaffinity
        sched_yield pipe2 posix_spawn posix_spawnp pread pwrite preadv pwritev sendfile memfd_create eventfd
        eventfd_read eventfd_write pidfd_open splice copy_file_range posix_fadvise posix_fallocate getxattr setxattr
        listxattr removexattr fdatasync fchdir getlogin_r login_tty lockf""",
    "signal": """SIGKILL SIGCHLD SIGCLD SIGSTOP SIGCONT SIGHUP SIGQUIT SIGUSR1 SIGUSR2 SIGALRM SIGPIPE SIGXFSZ
        SIGXCPU SIGTSTP SIGTTIN SIGTTOU SIGWINCH SIGIO SIGPOLL SIGPROF SIGVTALRM SIGSYS SIGTRAP SIGBUS SIGURG
        SIGPWR SIGSTKFLT SIGRTMIN SIGRTMAX SIGIOT alarm setitimer getitimer pause siginterrupt sigwait
        sigwaitinfo sigtimedwait pthread_kill pthread_sigmask sigpending ITIMER_REAL ITIMER_VIRTUAL ITIMER_PROF
        SIG_BLOCK SIG_UNBLOCK SIG_SETMASK pidfd_send_signal""",
    "socket": """AF_UNIX SOCK_SEQPACKET send_fds recv_fds CMSG_LEN CMSG_SPACE SCM_RIGHTS SCM_CREDENTIALS
        AF_NETLINK AF_PACKET SO_PEERCRED""",
    "select": """poll epoll POLLIN POLLOUT POLLPRI POLLERR POLLHUP POLLNVAL EPOLLIN EPOLLOUT EPOLLERR EPOLLHUP""",
}
MACOS_HIDDEN = {
    "os": """sched_getaffinity sched_setaffinity memfd_create eventfd eventfd_read eventfd_write pidfd_open splice
        copy_file_range posix_fadvise posix_fallocate getxattr setxattr listxattr removexattr pipe2 getresuid
        getresgid setresuid setresgid""",
    "signal": """SIGRTMIN SIGRTMAX SIGPWR SIGSTKFLT SIGPOLL SIGCLD sigwaitinfo sigtimedwait pidfd_send_signal""",
    "socket": """AF_NETLINK AF_PACKET SO_PEERCRED SCM_CREDENTIALS""",
    "select": """epoll EPOLLIN EPOLLOUT EPOLLERR EPOLLHUP""",
}
WINDOWS_MISSING_MODULES = {"fcntl", "resource", "pwd", "grp", "termios", "tty", "pty", "posix", "syslog", "crypt", "spwd"}
INVISIBLE = ("/proc", "/dev/shm")

_STDLIB = os.path.dirname(os.__file__) + os.sep
_HERE = os.path.abspath(__file__)
_ALSO = tuple(os.path.abspath(p) + os.sep for p in os.environ.get("FOREIGN_ALSO", "").split(os.pathsep) if p)


class ForeignPlatformError(RuntimeError):
    """A call that means something else on the platform being played (not an OSError: nothing
    in the project may quietly catch it)."""


def _ours_by_globals(namespace) -> bool:
    if not namespace:
        return False
    name = namespace.get("__name__") or ""
    if name == "__main__":
        spec = namespace.get("__spec__")
        name = getattr(spec, "name", "") or ""
    if name in ("course", "checker") or name.startswith(("course.", "checker.")):
        return True
    if _ALSO:
        filename = namespace.get("__file__") or ""
        return bool(filename) and os.path.abspath(filename).startswith(_ALSO)
    return False


def _caller_is_ours(depth: int = 2) -> bool:
    """Whether the first frame above us outside the standard library belongs to the project."""
    frame = sys._getframe(depth)
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename == _HERE or filename.startswith("<frozen") or (filename.startswith(_STDLIB) and "-packages" not in filename):
            frame = frame.f_back
            continue
        return _ours_by_globals(frame.f_globals)
    return False


class _Proxy(types.ModuleType):
    """A module as the project sees it on the foreign platform: ``hidden`` names are missing,
    ``overrides`` replace; everything else (also assignments) is the real module's."""

    def __init__(self, real: types.ModuleType, hidden: set[str], overrides: dict):
        super().__init__(real.__name__, real.__doc__)
        object.__setattr__(self, "_foreign_real", real)
        object.__setattr__(self, "_foreign_hidden", hidden)
        object.__setattr__(self, "_foreign_overrides", overrides)

    def __getattribute__(self, name):
        if name.startswith("_foreign_") or name in ("__class__", "__dict__"):
            return object.__getattribute__(self, name)
        if name in object.__getattribute__(self, "_foreign_hidden"):
            real = object.__getattribute__(self, "_foreign_real")
            raise AttributeError(f"module {real.__name__!r} has no attribute {name!r} (not on {MODE})")
        overrides = object.__getattribute__(self, "_foreign_overrides")
        if name in overrides:
            return overrides[name]
        return getattr(object.__getattribute__(self, "_foreign_real"), name)

    def __setattr__(self, name, value):
        setattr(object.__getattribute__(self, "_foreign_real"), name, value)

    def __dir__(self):
        hidden = object.__getattribute__(self, "_foreign_hidden")
        return [n for n in dir(object.__getattribute__(self, "_foreign_real")) if n not in hidden]


def _invisible(path) -> bool:
    if isinstance(path, int):
        return False
    try:
        text = os.fsdecode(os.fspath(path))
    except TypeError:
        return False
    text = os.path.normpath(text) if text.startswith("/") else text
    return any(text == place or text.startswith(place + "/") for place in INVISIBLE)


def _hide_paths() -> None:
    """``/proc`` and ``/dev/shm`` are absent for the project's code."""

    def guard(function):
        def guarded(path, *args, **kwargs):
            if _invisible(path) and _caller_is_ours():
                raise FileNotFoundError(2, f"No such file or directory (not on {MODE})", os.fsdecode(os.fspath(path)))
            return function(path, *args, **kwargs)

        guarded.__name__ = getattr(function, "__name__", "guarded")
        guarded.__wrapped__ = function
        return guarded

    for name in ("stat", "lstat", "scandir", "listdir", "readlink", "open", "chdir"):
        setattr(os, name, guard(getattr(os, name)))
    real_access = os.access

    def access(path, mode, *args, **kwargs):
        if _invisible(path) and _caller_is_ours():
            return False
        return real_access(path, mode, *args, **kwargs)

    os.access = access
    opener = guard(io.open)
    builtins.open = opener
    io.open = opener


def _windows_kill(real_kill):
    import signal

    def kill(pid, sig):
        if sig in (0, 1, signal.SIGINT):
            raise ForeignPlatformError(
                f"os.kill(pid, {sig}) on Windows is not what it is on POSIX: 0 is CTRL_C_EVENT (sent to the whole console), "
                "1 CTRL_BREAK_EVENT, SIGINT TerminateProcess; use checker.process.platform"
            )
        return real_kill(pid, signal.SIGKILL)  # any other signal: TerminateProcess, at once

    return kill


def _guard_popen() -> None:
    """Windows ignores ``start_new_session`` (Ctrl-C would reach the child) and rejects
    ``pass_fds`` and ``preexec_fn``: refused when the project's code asks for them."""
    real_init = subprocess.Popen.__init__

    def __init__(self, *args, **kwargs):
        asked = [key for key in ("start_new_session", "pass_fds", "preexec_fn", "process_group") if kwargs.get(key)]
        if asked and _caller_is_ours():
            raise ForeignPlatformError(
                f"subprocess.Popen({', '.join(asked)}=...) does not exist on Windows; use platform.detached()"
            )
        real_init(self, *args, **kwargs)

    subprocess.Popen.__init__ = __init__  # type: ignore[method-assign]


def _fake_msvcrt() -> types.ModuleType:
    """Windows's ``msvcrt.locking`` (a byte-range lock from the file's position; ``LK_LOCK``
    tries for 10 s, then raises), made of POSIX record locks: the Windows branch of the
    project's file locks runs here too."""
    import errno
    import fcntl
    import time

    module = types.ModuleType("msvcrt")
    module.LK_UNLCK, module.LK_LOCK, module.LK_NBLCK, module.LK_RLCK, module.LK_NBRLCK = 0, 1, 2, 3, 4

    def locking(fd: int, mode: int, nbytes: int) -> None:
        start = os.lseek(fd, 0, os.SEEK_CUR)
        if mode == module.LK_UNLCK:
            fcntl.lockf(fd, fcntl.LOCK_UN, nbytes, start)
            return
        for _ in range(1 if mode in (module.LK_NBLCK, module.LK_NBRLCK) else 10):
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, nbytes, start)
                return
            except OSError:
                time.sleep(0 if mode in (module.LK_NBLCK, module.LK_NBRLCK) else 1)
        raise OSError(errno.EDEADLK, "Resource deadlock avoided")

    module.locking = locking
    return module


def _install() -> None:
    import select
    import signal
    import socket

    table = WINDOWS_HIDDEN if MODE == "windows" else MACOS_HIDDEN
    real = {"os": os, "signal": signal, "socket": socket, "select": select}
    overrides: dict[str, dict] = {name: {} for name in real}
    if MODE == "windows":
        overrides["os"]["kill"] = _windows_kill(os.kill)
    proxies: dict[str, types.ModuleType] = {
        name: _Proxy(module, set(table[name].split()), overrides[name]) for name, module in real.items()
    }
    if MODE == "macos":
        proxies["sys"] = _Proxy(sys, set(), {"platform": "darwin"})
    missing = WINDOWS_MISSING_MODULES if MODE == "windows" else set()
    windows_only = {"msvcrt": _fake_msvcrt()} if MODE == "windows" else {}
    real_import = builtins.__import__

    def foreign_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and _ours_by_globals(globals):
            top = name.partition(".")[0]
            if top in missing:
                raise ModuleNotFoundError(f"No module named {name!r} (not on {MODE})", name=name)
            if name in windows_only:
                return windows_only[name]
            module = real_import(name, globals, locals, fromlist, level)
            if top in proxies and (not fromlist or name == top):
                return proxies[top]
            return module
        return real_import(name, globals, locals, fromlist, level)

    builtins.__import__ = foreign_import
    _hide_paths()
    if MODE == "windows":
        _guard_popen()


if MODE in ("windows", "macos"):
    _install()
elif MODE:
    raise SystemExit(f"FOREIGN_PLATFORM={MODE!r}: expected windows or macos")
