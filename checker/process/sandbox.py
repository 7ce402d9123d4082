"""How a process that runs learner code is confined, and how the processes around it are guarded.

Every mechanism here is a named choice with a fallback: each function says what it does where the
operating system offers it and does nothing (or the portable equivalent) where it does not, so
the runner works on macOS and Windows and is strongest on Linux. ``docs/security.md`` says which
of these hold in which setting.

- :func:`harden` — a process that holds a secret (the runner, the service) cannot be read or
  traced by processes of its user (``PR_SET_DUMPABLE`` 0 on Linux).
- :func:`become_subreaper` — a process that starts learner code adopts every orphan of it, so a
  ``setsid`` or double-forked grandchild can still be found and killed (Linux).
- :func:`apply_limits` — hard resource limits (soft = hard: learner code cannot raise them).
- :class:`Confinement` / :func:`enter` — when the runner is root: a mount namespace with private,
  size-capped ``/tmp``, ``/var/tmp`` and ``/dev/shm``, the runner's folders and the other
  submissions hidden, the root file system read-only, then an unprivileged uid of its own.
- :func:`kill_uid` — end every process of a confined run's uid, however it detached.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

LINUX = sys.platform.startswith("linux")

MEMORY_LIMIT = 2 << 30
"""Bytes of heap a learner process may use (RLIMIT_DATA): a memory bomb gets MemoryError."""
FILE_SIZE_LIMIT = 64 << 20
"""Bytes any one file may grow to (RLIMIT_FSIZE): 50 MB of prints cannot fill a disk."""
CPU_LIMIT_S = 300
"""CPU seconds for one learner process (RLIMIT_CPU); the per-check wall clock limit comes first."""
PROCESS_LIMIT = 256
"""Processes and threads of a confined run's uid (RLIMIT_NPROC; only where the uid is its own)."""
OPEN_FILES_LIMIT = 1024
PRIVATE_FOLDERS = ("/tmp", "/var/tmp", "/dev/shm")
"""Where a confined run gets empty file systems of its own (they vanish with the run)."""
PRIVATE_TMP_MB = 128
"""Size of each private temp file system of a confined run: all it may write outside its folder."""

FIRST_UID = 1_900_000_000
"""Confined runs get uids from here (one per concurrent run); no account on the machine has them."""
UID_SLOTS = 4096

_PR_SET_DUMPABLE = 4
_PR_SET_CHILD_SUBREAPER = 36
_PR_SET_NO_NEW_PRIVS = 38
_CLONE_NEWNS = 0x00020000
_CLONE_NEWIPC = 0x08000000
_MS_RDONLY = 1
_MS_NOSUID = 2
_MS_NODEV = 4
_MS_REMOUNT = 32
_MS_BIND = 4096
_MS_REC = 16384
_MS_PRIVATE = 1 << 18


@functools.cache
def _libc():
    """The C library (``dlopen(NULL)``: the interpreter's own, no ``ldconfig`` call)."""
    if not LINUX:
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def _prctl(option: int, value: int) -> bool:
    libc = _libc()
    return libc is not None and libc.prctl(option, value, 0, 0, 0) == 0


def running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


# -- guarding the processes that hold secrets ---------------------------------------------------


def harden() -> bool:
    """Make this process unreadable by others of its uid: no ``/proc/<pid>/mem``, ``environ`` or
    ptrace for them (Linux; elsewhere the OS's defaults apply). True if it took effect."""
    return _prctl(_PR_SET_DUMPABLE, 0)


def become_subreaper() -> bool:
    """Adopt the orphans of our descendants instead of leaving them to init (Linux)."""
    return _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def orphans(known: set[int]) -> list[int]:
    """Our children that we did not start ourselves: adopted orphans of learner code (Linux)."""
    me = os.getpid()
    found = []
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit() or int(entry.name) in known:
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as handle:
                    stat = handle.read()
            except OSError:
                continue
            fields = stat[stat.rfind(b")") + 2 :].split()
            if len(fields) > 1 and int(fields[1]) == me:
                found.append(int(entry.name))
    return found


# -- limits ---------------------------------------------------------------------------------------


def apply_limits(*, processes: bool = False) -> None:
    """Hard limits for this process and what it starts (where the OS has ``resource``).

    ``processes``: also cap processes and threads, which counts per uid and so only makes sense
    for a uid of the run's own (see :class:`Confinement`).
    """
    from checker.process import platform

    if not platform.resource_limits():  # Windows, or the portable mode: the wall clock still holds
        return
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write fails instead of killing us
    limits = [
        (resource.RLIMIT_DATA, MEMORY_LIMIT),
        (resource.RLIMIT_FSIZE, FILE_SIZE_LIMIT),
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_CPU, CPU_LIMIT_S),
        (resource.RLIMIT_NOFILE, OPEN_FILES_LIMIT),
    ]
    if processes and hasattr(resource, "RLIMIT_NPROC"):
        limits.append((resource.RLIMIT_NPROC, PROCESS_LIMIT))
    for limit, value in limits:
        try:
            _soft, hard = resource.getrlimit(limit)
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(limit, (value, value))
        except (ValueError, OSError):
            pass


# -- confinement of a run (root only) -------------------------------------------------------------


@dataclass(frozen=True)
class Confinement:
    """What a confined run may see and touch. Chosen by the runner; applied by :func:`enter`."""

    hidden: tuple[str, ...] = ()
    """Folders covered by an empty file system: the runner's state, the other submissions."""
    needed: tuple[str, ...] = ()
    """Folders the run must read (the interpreter, the packages)."""
    reveal: tuple[str, ...] = ()
    """Files shown again inside hidden folders (the exercise's ``checks.py``)."""

    def for_checks(self, checks_file: str | Path) -> Confinement:
        """The same, with the course content out of sight (a reference solution lies next to the
        checks: a submission that imported it would pass without knowing anything) but for
        ``checks_file`` itself."""
        checks = Path(checks_file).resolve()
        content_root = checks.parents[2]  # <root>/exercises/<module>/<exercise>/checks.py
        helpers = checks.parents[1] / "_shared" / "helpers.py"  # the module's helpers (checker.authoring.shared)
        shown = (str(checks), str(helpers)) if helpers.is_file() else (str(checks),)
        return replace(self, hidden=(*self.hidden, str(content_root)), reveal=(*self.reveal, *shown))

    def to_json(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_json(data: dict | None) -> Confinement | None:
        if data is None:
            return None
        return Confinement(**{key: tuple(value) for key, value in data.items()})


def can_confine() -> bool:
    """Whether :func:`enter` can work here: Linux, as root (not in the portable mode)."""
    from checker.process import platform

    return LINUX and running_as_root() and _libc() is not None and not platform.portable()


def interpreter_paths(*extra: str | Path) -> tuple[str, ...]:
    """What a run reads: the interpreter's prefixes, ``sys.path`` and ``extra``, outermost only."""
    here = os.path.realpath(os.getcwd())  # ``python -m`` puts it on sys.path: it is not the interpreter's
    paths = [p for p in sys.path if p and os.path.realpath(p) != here]
    candidates = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, *paths, *extra) if p}
    existing = sorted(p for p in candidates if os.path.exists(p))
    outermost: list[str] = []
    for path in existing:
        if not any(path == kept or path.startswith(kept.rstrip("/") + "/") for kept in outermost):
            outermost.append(path)
    return tuple(outermost)


class ConfinementError(RuntimeError):
    """The run could not be confined: it must not run at all."""


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    libc = _libc()
    result = libc.mount(
        source.encode() if source else None,
        target.encode(),
        fstype.encode() if fstype else None,
        ctypes.c_ulong(flags),
        data.encode() if data else None,
    )
    if result != 0:
        error = ctypes.get_errno()
        raise ConfinementError(f"mount {target}: {os.strerror(error)}")


def _blocked_ancestor(path: str) -> str | None:
    """The outermost folder above ``path`` that other users cannot pass through, if any."""
    blocked = None
    current = Path(path)
    for part in [current, *current.parents]:
        try:
            if not part.stat().st_mode & 0o001:
                blocked = str(part)
        except OSError:
            return None
    return blocked


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _tmpfs(target: str, size_mb: int, mode: str = "1777") -> None:
    _mount("tmpfs", target, "tmpfs", _MS_NOSUID | _MS_NODEV, f"size={size_mb}m,mode={mode}")


def enter(confinement: Confinement, uid: int, learner_dir: Path) -> None:
    """In a freshly forked child, as root: confine this process, then become ``uid``.

    Private ``/tmp``, ``/var/tmp`` and ``/dev/shm`` (``PRIVATE_TMP_MB`` each; gone when the run
    ends), a private IPC namespace, ``hidden`` folders covered, everything else read-only except
    a copy of ``learner_dir`` (on the private ``/tmp``, mounted back at its own path), and folders
    of ``needed`` that only root could reach made reachable. Raises :class:`ConfinementError`.
    """
    libc = _libc()
    if libc is None or libc.unshare(_CLONE_NEWNS | _CLONE_NEWIPC) != 0:
        raise ConfinementError(f"cannot make a mount namespace: {os.strerror(ctypes.get_errno())}")
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)
    privates = [p for p in PRIVATE_FOLDERS if os.path.isdir(p)]
    blocked = sorted({b for p in confinement.needed if (b := _blocked_ancestor(p))})
    covered = [*privates, *blocked, *(h for h in confinement.hidden if os.path.isdir(h))]
    # what lies under the folders about to be covered, held open: /proc/self/fd/N still reaches
    # it, and is bound back once they are covered
    source = os.open(learner_dir, os.O_RDONLY | os.O_DIRECTORY)
    rebind = [(p, os.open(p, os.O_RDONLY | os.O_DIRECTORY)) for p in confinement.needed if any(_inside(p, c) for c in covered)]
    revealed = [(path, os.open(path, os.O_RDONLY)) for path in confinement.reveal if os.path.isfile(path)]

    for private in privates:
        _tmpfs(private, PRIVATE_TMP_MB)
    work = Path("/tmp/.course-work")
    shutil.copytree(f"/proc/self/fd/{source}", work, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    os.close(source)
    # folders only root can pass through (e.g. a Python under /root), and the hidden ones
    for folder in blocked:
        os.makedirs(folder, exist_ok=True)
        _tmpfs(folder, 1, "0755")
    for hidden in confinement.hidden:
        if os.path.isdir(hidden) and not any(_inside(n, hidden) for n in confinement.needed):
            _tmpfs(hidden, 1, "0755")
    for path, handle in rebind:
        os.makedirs(path, exist_ok=True)
        _mount(f"/proc/self/fd/{handle}", path, None, _MS_BIND | _MS_REC)
        os.close(handle)
    for path, handle in revealed:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if not os.path.exists(path):
            open(path, "x", encoding="utf-8").close()
        _mount(f"/proc/self/fd/{handle}", path, None, _MS_BIND)
        os.close(handle)
    os.makedirs(learner_dir, exist_ok=True)
    _mount(str(work), str(learner_dir), None, _MS_BIND)
    _read_only_except({*privates, str(learner_dir)})

    for root, dirs, files in os.walk(work):
        for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
            os.lchown(name, uid, uid)
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    _prctl(_PR_SET_NO_NEW_PRIVS, 1)
    os.environ.update({"HOME": "/tmp", "TMPDIR": "/tmp"})


_WRITABLE_KINDS = {
    "proc",
    "sysfs",
    "devtmpfs",
    "devpts",
    "mqueue",
    "cgroup",
    "cgroup2",
    "securityfs",
    "debugfs",
    "tracefs",
    "pstore",
    "bpf",
    "fusectl",
    "configfs",
    "hugetlbfs",
    "binfmt_misc",
    "autofs",
    "efivarfs",
}


def _read_only_except(writable: set[str]) -> None:
    """Remount every ordinary file system of this namespace read-only, but ``writable``."""
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        mounts = [line.split() for line in handle]
    for fields in mounts:
        target = fields[4].replace("\\040", " ")
        kind = fields[fields.index("-") + 1] if "-" in fields else ""
        if target in writable or kind in _WRITABLE_KINDS or any(target.startswith(w + "/") for w in writable):
            continue
        with contextlib.suppress(ConfinementError):
            _mount(None, target, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID | _MS_NODEV)


def uid_processes(uid: int) -> list[int]:
    """The processes of ``uid`` (Linux: from /proc)."""
    found = []
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            # the Uid line, not the folder's owner: a process that made itself undumpable has
            # a /proc folder owned by root
            with contextlib.suppress(OSError, ValueError, IndexError), open(f"/proc/{entry.name}/status", "rb") as handle:
                for line in handle:
                    if line.startswith(b"State:") and b"Z" in line:
                        break  # a zombie holds nothing but its pid; its parent reaps it
                    if line.startswith(b"Uid:"):
                        if uid in (int(v) for v in line.split()[1:]):
                            found.append(int(entry.name))
                        break
    return found


def kill_uid(uid: int, timeout: float = 5.0) -> bool:
    """Kill every process of ``uid`` (a confined run's), however it detached; True when none is
    left. Forks a helper that takes the uid, so ``kill(-1)`` reaches exactly that uid's processes
    (and no other: root's ``kill(-1)`` would reach every process of the machine)."""
    deadline = time.monotonic() + timeout
    while uid_processes(uid):
        if time.monotonic() > deadline:
            return False
        pid = os.fork()
        if pid == 0:
            try:
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
                os.kill(-1, signal.SIGKILL)  # every process this uid may signal, but the caller
            finally:
                os._exit(0)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        time.sleep(0.001)
    return True


def uid_lock_folder() -> Path:
    """Where the graders of this machine reserve confined uids (root's alone)."""
    base = Path("/run") if os.access("/run", os.W_OK) else Path(tempfile.gettempdir())
    folder = base / "course-uids"
    folder.mkdir(mode=0o700, exist_ok=True)
    if folder.stat().st_uid != os.geteuid() or folder.is_symlink():
        raise ConfinementError(f"{folder} is not ours; remove it")
    return folder


def slot_uid(slot: int) -> int:
    return FIRST_UID + slot % UID_SLOTS


def confinement_summary(confinement: Confinement | None) -> str:
    """One line for ``course grade``: what separates the submissions on this run."""
    if confinement is not None:
        return (
            "each submission runs as a uid of its own in a private mount namespace (read-only system, "
            "private /tmp, the others' folders hidden), with hard limits; every database is sealed to its own role"
        )
    why = "not running as root" if LINUX else f"not available on {sys.platform}"
    return (
        f"submissions are NOT separated at the OS level ({why}): they run as your user and could read your "
        "files or signal this run. Databases are still sealed per submission, limits are hard and no process "
        "running student code gets a secret. For hostile submissions grade as root in a container or CI job "
        "(see docs/security.md)"
    )
