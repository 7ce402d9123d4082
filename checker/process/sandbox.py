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
- :class:`Confinement` / :func:`enter` — when the runner is root, a ladder chosen by what the
  kernel allows (:func:`isolation`, probed in a child, never guessed from capability names):
  (a) a mount namespace with private, size-capped ``/tmp``, ``/var/tmp`` and ``/dev/shm``, the
  runner's folders and the other submissions hidden, the root file system read-only, then an
  unprivileged uid of its own; (b) where no namespace may be made (a container without
  CAP_SYS_ADMIN): still a uid of its own, a private 0700 copy of the submission, a private temp
  folder, and the originals and the reference solutions closed to that uid (:func:`shielded`).
- :func:`kill_uid` / :func:`clean_uid` — end every process of a confined run's uid, however it
  detached, and remove what it left in the shared temp folders.
- :func:`deny_stopping` — learner code cannot stop (SIGSTOP, SIGTSTP …) or trace the processes
  above it (a seccomp filter, Linux).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import os
import shutil
import signal
import stat
import struct
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
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


NAMESPACES = "namespaces"
OWN_UID = "own uid"
NONE = "none"


@dataclass(frozen=True)
class Isolation:
    """Which rung of the ladder this machine gives class runs, and why (see :func:`isolation`)."""

    level: str
    """:data:`NAMESPACES`, :data:`OWN_UID` or :data:`NONE`."""
    why: str
    """Why not the rung above (empty for :data:`NAMESPACES`)."""

    def line(self) -> str:
        """The one line ``course doctor`` and ``course grade`` print."""
        if self.level == NAMESPACES:
            return (
                "isolation: own uid per submission in a private mount namespace (read-only system, private /tmp, "
                "the others' folders and the solutions hidden), hard limits; every database sealed to its own role"
            )
        if self.level == OWN_UID:
            return (
                f"isolation: own uid per submission, no mount namespace ({self.why}): a private 0700 copy of each "
                "submission and a private temp folder, the others' folders and the solutions closed to it, hard limits, "
                "its processes and temp files removed after it; every database sealed to its own role"
            )
        return (
            f"isolation: none at the OS level ({self.why}): submissions run as your user and could read your "
            "files or signal this run. Databases are still sealed per submission, limits are hard and no process "
            "running student code gets a secret. For hostile submissions grade as root in a container or CI job "
            "(see docs/security.md)"
        )


@functools.cache
def isolation() -> Isolation:
    """The strongest rung this machine allows, probed: a child tries to make the mount and IPC
    namespaces and mount a file system in them (nothing is inferred from capability names: a
    seccomp profile may refuse what the capabilities allow)."""
    from checker.process import platform

    if not LINUX:
        return Isolation(NONE, f"not available on {sys.platform}")
    if platform.portable():
        return Isolation(NONE, "COURSE_PORTABLE=1")
    if not running_as_root():
        return Isolation(NONE, "not running as root")
    if _libc() is None:
        return Isolation(NONE, "no C library to call")
    refused = _probe_namespaces()
    if refused:
        return Isolation(OWN_UID, f"this machine allows none: {refused}")
    return Isolation(NAMESPACES, "")


def _probe_namespaces() -> str:
    """Empty when a forked child could make a mount namespace and mount a tmpfs in it; else why not."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        why = ""
        try:
            os.close(read_fd)
            libc = _libc()
            if libc.unshare(_CLONE_NEWNS | _CLONE_NEWIPC) != 0:
                why = f"unshare: {os.strerror(ctypes.get_errno())}"
            else:
                _mount(None, "/", None, _MS_REC | _MS_PRIVATE)
                _tmpfs(tempfile.gettempdir(), 1)
        except BaseException as error:  # noqa: BLE001 - whatever it was, the answer is no
            why = why or str(error) or type(error).__name__
        finally:
            with contextlib.suppress(OSError):
                os.write(write_fd, why.encode()[:400])
            os._exit(0)
    os.close(write_fd)
    try:
        answer = os.read(read_fd, 512).decode(errors="replace")
    finally:
        os.close(read_fd)
        os.waitpid(pid, 0)
    return answer


@dataclass(frozen=True)
class Confinement:
    """What a confined run may see and touch. Chosen by the runner; applied by :func:`enter`."""

    hidden: tuple[str, ...] = ()
    """Folders covered by an empty file system: the runner's state, the other submissions."""
    needed: tuple[str, ...] = ()
    """Folders the run must read (the interpreter, the packages)."""
    reveal: tuple[str, ...] = ()
    """Files shown again inside hidden folders (the exercise's ``checks.py``)."""
    namespaces: bool = field(default_factory=lambda: isolation().level == NAMESPACES)
    """Rung (a) of the ladder: a mount namespace. False: rung (b), a uid and private copies only."""

    def for_checks(self, checks_file: str | Path) -> Confinement:
        """The same, with the course content out of sight (a reference solution lies next to the
        checks: a submission that imported it would pass without knowing anything) but for
        ``checks_file`` itself."""
        checks = Path(checks_file).resolve()
        content_root = checks.parents[2]  # <root>/exercises/<module>/<exercise>/checks.py
        helpers = checks.parents[1] / "_shared" / "helpers.py"  # the module's helpers (checker.authoring.shared)
        shown = (str(checks), str(helpers)) if helpers.is_file() else (str(checks),)
        # the module's folder too: where the content root holds the packages themselves (an
        # editable install) it cannot be covered, the module's exercises (solutions) still are
        module = str(checks.parents[1])
        return replace(self, hidden=(*self.hidden, str(content_root), module), reveal=(*self.reveal, *shown))

    def to_json(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_json(data: dict | None) -> Confinement | None:
        if data is None:
            return None
        return Confinement(
            hidden=tuple(data.get("hidden", ())),
            needed=tuple(data.get("needed", ())),
            reveal=tuple(data.get("reveal", ())),
            namespaces=bool(data.get("namespaces", True)),
        )


def can_confine() -> bool:
    """Whether :func:`enter` can work here: Linux, as root (not in the portable mode); with
    namespaces or without (see :func:`isolation`)."""
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


def enter(confinement: Confinement, uid: int, learner_dir: Path) -> dict[str, Path]:
    """In a freshly forked child, as root: confine this process, then become ``uid``.

    With namespaces (:func:`_enter_namespaces`) the submission keeps its path; without
    (:func:`_enter_own_uid`) it runs from a private copy: what the job must use instead is
    returned (``learner_dir``, ``checks_file``; empty with namespaces). Raises
    :class:`ConfinementError`.
    """
    if confinement.namespaces:
        _enter_namespaces(confinement, uid, learner_dir)
        return {}
    return _enter_own_uid(confinement, uid, learner_dir)


def _enter_namespaces(confinement: Confinement, uid: int, learner_dir: Path) -> None:
    """Private ``/tmp``, ``/var/tmp`` and ``/dev/shm`` (``PRIVATE_TMP_MB`` each; gone when the run
    ends), a private IPC namespace, ``hidden`` folders covered, everything else read-only except
    a copy of ``learner_dir`` (on the private ``/tmp``, mounted back at its own path), and folders
    of ``needed`` that only root could reach made reachable."""
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
    copy_submission(Path(f"/proc/self/fd/{source}"), work, uid)
    os.close(source)
    # folders only root can pass through (e.g. a Python under /root), and the hidden ones
    for folder in blocked:
        os.makedirs(folder, exist_ok=True)
        _tmpfs(folder, 1, "0755")
    for path, handle in rebind:
        os.makedirs(path, exist_ok=True)
        _mount(f"/proc/self/fd/{handle}", path, None, _MS_BIND | _MS_REC)
        os.close(handle)
    # after the binds: a hidden folder inside one bound back (the course installed under /tmp,
    # itself covered by the private /tmp) is covered again on top of it
    for hidden in confinement.hidden:
        if os.path.isdir(hidden) and not any(_inside(n, hidden) for n in confinement.needed):
            _tmpfs(hidden, 1, "0755")
    for path, handle in revealed:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if not os.path.exists(path):
            open(path, "x", encoding="utf-8").close()
        _mount(f"/proc/self/fd/{handle}", path, None, _MS_BIND)
        os.close(handle)
    os.makedirs(learner_dir, exist_ok=True)
    _mount(str(work), str(learner_dir), None, _MS_BIND)
    _read_only_except({*privates, str(learner_dir)})
    _become(uid)
    os.environ.update({"HOME": "/tmp", "TMPDIR": "/tmp"})
    tempfile.tempdir = None


def _become(uid: int) -> None:
    """Drop every group and privilege of root for ``uid`` (its own group, no supplementary one)."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if os.getuid() != uid or os.geteuid() != uid or os.getgroups():
        raise ConfinementError(f"could not become uid {uid}")
    _prctl(_PR_SET_NO_NEW_PRIVS, 1)


SUBMISSION_LIMIT = 256 << 20
"""Bytes of a submission folder copied for a confined run: more is refused (not graded)."""


def copy_submission(source: Path, target: Path, uid: int | None, limit: int = SUBMISSION_LIMIT, *, links: bool = True) -> None:
    """Copy the folder ``source`` to ``target`` without following a link or opening anything but
    regular files: links are copied as links (graded as what they are; ``links=False``: left
    out), FIFOs, sockets and devices are left out, caches too. Everything copied belongs to
    ``uid`` (None: to us), folders 0700 (0755 when ``uid`` is None). Raises
    :class:`ConfinementError` past ``limit`` bytes."""
    copied = 0

    def copy(folder: Path, into: Path) -> None:
        nonlocal copied
        os.mkdir(into, 0o700 if uid is not None else 0o755)
        if uid is not None:
            os.chown(into, uid, uid)
        with os.scandir(folder) as entries:
            listing = sorted(entries, key=lambda entry: entry.name)
        for entry in listing:
            if entry.name == "__pycache__" or entry.name.endswith((".pyc", ".pyo")):
                continue
            mode = entry.stat(follow_symlinks=False).st_mode
            destination = into / entry.name
            if stat.S_ISDIR(mode):
                copy(Path(entry.path), destination)
            elif stat.S_ISLNK(mode):
                if not links:
                    continue
                os.symlink(os.readlink(entry.path), destination)
                if uid is not None:
                    os.lchown(destination, uid, uid)
            elif stat.S_ISREG(mode):
                fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
                try:
                    if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped for something else meanwhile
                        continue
                    out = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600 if uid else 0o644)
                    try:
                        while chunk := os.read(fd, 1 << 20):
                            copied += len(chunk)
                            if copied > limit:
                                raise ConfinementError(f"the submission folder holds more than {limit >> 20} MiB")
                            os.write(out, chunk)
                        if uid is not None:
                            os.fchown(out, uid, uid)
                    finally:
                        os.close(out)
                finally:
                    os.close(fd)

    copy(source, target)


RUNS_FOLDER = "course-runs"


def runs_folder() -> Path:
    """Where runs confined without namespaces get their private folders (root's, 0711: others
    may pass through to the folder that is theirs, not list it)."""
    folder = uid_lock_folder().parent / RUNS_FOLDER
    folder.mkdir(mode=0o711, exist_ok=True)
    info = folder.lstat()
    if info.st_uid != os.geteuid() or stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise ConfinementError(f"{folder} is not ours; remove it")
    os.chmod(folder, 0o711)
    return folder


def run_folder(uid: int) -> Path:
    """The private folder of the run confined as ``uid`` without namespaces."""
    return runs_folder() / str(uid)


def _enter_own_uid(confinement: Confinement, uid: int, learner_dir: Path) -> dict[str, Path]:
    """Rung (b): no namespace, still a uid of its own. A private folder (root's, 0711) holding
    ``work`` (a copy of the submission, the uid's, 0700), ``tmp`` (its temp folder and home,
    0700) and ``content`` (the checks and the starter the checks compare with; root's, readable);
    interpreter folders only root can pass through stay reachable through descriptors opened
    now. The originals and the solutions are closed to the uid by the runner (:func:`shielded`)."""
    private = run_folder(uid)
    if private.exists() or private.is_symlink():
        shutil.rmtree(private)
    os.mkdir(private, 0o711)
    work, tmp = private / "work", private / "tmp"
    copy_submission(learner_dir, work, uid)
    os.mkdir(tmp, 0o700)
    os.chown(tmp, uid, uid)
    changes: dict[str, Path] = {"learner_dir": work}
    for revealed in confinement.reveal:  # the checks (and the module's shared helpers), copied
        shown = Path(revealed)
        folder = shown.parent
        copy = private / "content" / "exercises" / folder.parent.name / folder.name
        copy.mkdir(parents=True, mode=0o755, exist_ok=True)
        for made in (private / "content", private / "content" / "exercises", copy.parent, copy):
            os.chmod(made, 0o755)
        names = (shown.name, "exercise.toml") if shown.name == "checks.py" else (shown.name,)
        for name in names:
            if (folder / name).is_file():
                shutil.copyfile(folder / name, copy / name, follow_symlinks=False)
                os.chmod(copy / name, 0o644)
        if shown.name == "checks.py":
            if (folder / "starter").is_dir() and not (folder / "starter").is_symlink():
                copy_submission(folder / "starter", copy / "starter", None)
            changes["checks_file"] = copy / shown.name
    # a Python under a folder only root may enter (e.g. /root/.pyenv): its folders stay reachable
    # through descriptors opened now (/proc/self/fd/N skips the folders above)
    reachable = []
    for entry in sys.path:
        if entry and os.path.isdir(entry) and _blocked_ancestor(os.path.realpath(entry)):
            reachable.append(f"/proc/self/fd/{os.open(entry, os.O_RDONLY | os.O_DIRECTORY)}")
        else:
            reachable.append(entry)
    _become(uid)
    _prctl(_PR_SET_DUMPABLE, 1)  # its own /proc/self/fd (a uid change made it root's)
    sys.path[:] = reachable
    sys.path_importer_cache.clear()
    os.environ.update({"HOME": str(tmp), "TMPDIR": str(tmp)})
    tempfile.tempdir = None
    os.chdir(work)
    return changes


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


SHARED_TEMP = ("/tmp", "/var/tmp", "/dev/shm")
"""Folders every uid may write in: what a run confined without namespaces leaves there is removed."""


def clean_uid(uid: int) -> None:
    """After :func:`kill_uid`: remove the private folder of a run confined without namespaces
    and what its uid left at the top of the shared temp folders (never following a link)."""
    with contextlib.suppress(OSError, ConfinementError):
        private = runs_folder() / str(uid)
        if private.is_dir() and not private.is_symlink():
            shutil.rmtree(private, ignore_errors=True)
    for folder in SHARED_TEMP:
        with contextlib.suppress(OSError), os.scandir(folder) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    info = entry.stat(follow_symlinks=False)
                    if info.st_uid != uid:
                        continue
                    if stat.S_ISDIR(info.st_mode):
                        shutil.rmtree(entry.path, ignore_errors=True)
                    else:
                        os.unlink(entry.path)


_POSTGRES_SEGMENT = "PostgreSQL."
"""How Postgres names its own dynamic shared memory segments in ``/dev/shm`` (kept)."""
_SERVERS_FOLDER = "course-"
"""How ``course.locations`` names the folders of throwaway servers in ``/dev/shm`` (kept: one may
be starting in another process)."""


def shared_memory_entries() -> set[str]:
    """Names in ``/dev/shm`` that belong to this user (Linux; empty elsewhere and in the portable
    mode): what a run left there is what appeared meanwhile (see ``checker.process.runner``)."""
    from checker.process import platform

    if not platform.ram_folder():
        return set()
    found = set()
    with contextlib.suppress(OSError), os.scandir("/dev/shm") as entries:
        for entry in entries:
            with contextlib.suppress(OSError):
                if entry.stat(follow_symlinks=False).st_uid == os.geteuid():
                    found.add(entry.name)
    return found


def remove_shared_memory(names) -> None:
    """Remove these entries of ``/dev/shm`` unless a live process of ours still holds them (an
    open descriptor, a mapping, a working folder inside: a browser's segment, a Postgres server's
    folder or segment), never following a link."""
    paths = {
        os.path.join("/dev/shm", name)
        for name in names
        if "/" not in name and name not in (".", "..") and not name.startswith((_POSTGRES_SEGMENT, _SERVERS_FOLDER))
    }
    for path in paths - _held(paths):
        with contextlib.suppress(OSError):
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)


def _held(paths: set[str]) -> set[str]:
    """Which of ``paths`` a live process of our uid holds open, mapped, or works inside."""
    if not paths:
        return set()
    held: set[str] = set()

    def note(target: str) -> None:
        for path in paths:
            if target == path or target.startswith(path + "/"):
                held.add(path)

    me = os.geteuid()
    with contextlib.suppress(OSError), os.scandir("/proc") as entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                if entry.stat().st_uid != me:
                    continue
            with contextlib.suppress(OSError):
                note(os.readlink(f"{entry.path}/cwd"))
            with contextlib.suppress(OSError), os.scandir(f"{entry.path}/fd") as fds:
                for fd in fds:
                    with contextlib.suppress(OSError):
                        note(os.readlink(fd.path).removesuffix(" (deleted)"))
            with contextlib.suppress(OSError), open(f"{entry.path}/maps", "rb") as maps:
                for line in maps:
                    if b"/dev/shm/" in line:
                        note(line.split(None, 5)[-1].decode(errors="replace").strip().removesuffix(" (deleted)"))
    return held


# -- closing what a uid of its own must not read (rung (b): no namespace to hide it) -------------

_SHIELDS = "shielded.json"


def _shield_registry(change) -> None:
    """Apply ``change(records)`` to the machine's record of shielded folders, under its lock:
    ``{path: {"mode": original mode, "holders": [pid, ...]}}``."""
    import fcntl

    folder = uid_lock_folder()
    with open(folder / (_SHIELDS + ".lock"), "a", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = folder / _SHIELDS
        try:
            records = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            records = {}
        change(records)
        scratch = folder / (_SHIELDS + ".new")
        scratch.write_text(json.dumps(records), encoding="utf-8")
        os.replace(scratch, path)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _release_shields(records: dict, leaving: int | None) -> None:
    """Drop ``leaving`` and dead runs from the holders; give a folder nobody holds its mode back."""
    for path, record in list(records.items()):
        record["holders"] = [pid for pid in record["holders"] if pid != leaving and _process_alive(pid)]
        if record["holders"]:
            continue
        with contextlib.suppress(OSError):
            info = os.lstat(path)
            if stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) == record["mode"] & ~0o007:
                os.chmod(path, record["mode"])
        del records[path]


@contextlib.contextmanager
def shielded(paths):
    """While the block runs, folders of ``paths`` are closed to other users (their "other"
    permission bits cleared: a run's uid has no group of theirs, so nothing under them is
    reachable to it), then given their modes back. Shared by concurrent runs of the machine (the
    last one out restores); a run that died is restored by the next one. Links, ``/`` and sticky
    folders (``/tmp``) are never touched."""
    me = os.getpid()
    targets = []
    for path in paths:
        with contextlib.suppress(OSError):
            real = os.path.realpath(path)
            info = os.lstat(real)
            if real != "/" and stat.S_ISDIR(info.st_mode) and not info.st_mode & stat.S_ISVTX:
                targets.append(real)

    def close(records: dict) -> None:
        _release_shields(records, None)  # what dead runs left
        for path in targets:
            if path in records:
                records[path]["holders"].append(me)
                continue
            mode = stat.S_IMODE(os.lstat(path).st_mode)
            if mode & 0o007:
                os.chmod(path, mode & ~0o007)
                records[path] = {"mode": mode, "holders": [me]}

    _shield_registry(close)
    try:
        yield
    finally:
        _shield_registry(lambda records: _release_shields(records, me))


# -- the processes above the learner's cannot be stopped or traced by it -------------------------

_PR_SET_SECCOMP = 22
_SECCOMP_RET_ALLOW = 0x7FFF0000
_SECCOMP_RET_ERRNO = 0x00050000
_EPERM = 1
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_SIGNAL_CALLS = {
    # (name: (x86_64 number, aarch64 number, index of the signal argument))
    "kill": (62, 129, 1),
    "tkill": (200, 130, 1),
    "tgkill": (234, 131, 2),
    "rt_sigqueueinfo": (129, 138, 1),
    "rt_tgsigqueueinfo": (297, 240, 2),
    "pidfd_send_signal": (424, 424, 1),
}
_PTRACE = {"x86_64": 101, "aarch64": 117}
STOPPING_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU") if hasattr(signal, name)
)  # none on Windows


def deny_stopping() -> bool:
    """In the process about to run learner code (Linux, x86-64 or arm64): a seccomp filter, kept
    by everything it starts, refuses (EPERM) sending a stopping signal (SIGSTOP, SIGTSTP,
    SIGTTIN, SIGTTOU) to any process, and ``ptrace``: learner code cannot freeze the runner or
    the worker above it (same user on a student's machine), so every deadline holds. True if
    it took effect."""
    machine = os.uname().machine if LINUX else ""
    libc = _libc()
    if machine not in _AUDIT_ARCH or libc is None:
        return False
    arch = 0 if machine == "x86_64" else 1

    def statement(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
        return struct.pack("HBBI", code, jt, jf, k & 0xFFFFFFFF)

    ld_w_abs, jeq_k, ret_k = 0x20, 0x15, 0x06
    deny = _SECCOMP_RET_ERRNO | _EPERM
    program = [statement(ld_w_abs, 4), statement(jeq_k, _AUDIT_ARCH[machine], 1, 0), statement(ret_k, _SECCOMP_RET_ALLOW)]
    program += [statement(ld_w_abs, 0), statement(jeq_k, _PTRACE[machine], 0, 1), statement(ret_k, deny)]
    if machine == "x86_64":  # the x32 numbers of the same calls
        program += [statement(0x35, 0x40000000, 0, 1), statement(ret_k, deny)]
    for numbers in _SIGNAL_CALLS.values():
        number, argument = numbers[arch], numbers[2]
        # seccomp_data: nr (0), arch (4), instruction_pointer (8), args[6] (16 + 8 * i; low half first)
        block = [statement(ld_w_abs, 16 + 8 * argument)]
        for index, sig in enumerate(STOPPING_SIGNALS):
            block.append(statement(jeq_k, int(sig), len(STOPPING_SIGNALS) - index, 0))
        block.append(statement(ret_k, _SECCOMP_RET_ALLOW))
        block.append(statement(ret_k, deny))
        program += [statement(ld_w_abs, 0), statement(jeq_k, number, 0, len(block))] + block
    program.append(statement(ret_k, _SECCOMP_RET_ALLOW))
    code = b"".join(program)
    buffer = ctypes.create_string_buffer(code)

    class _Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = _Program(len(program), ctypes.cast(buffer, ctypes.c_void_p))
    _prctl(_PR_SET_NO_NEW_PRIVS, 1)
    return libc.prctl(_PR_SET_SECCOMP, 2, ctypes.byref(fprog), 0, 0) == 0


def confinement_summary(confinement: Confinement | None) -> str:
    """One line for ``course grade`` (its first): what separates the submissions on this run."""
    if confinement is None:
        found = isolation()
        return (found if found.level == NONE else Isolation(NONE, "not confined")).line()
    if confinement.namespaces:
        return Isolation(NAMESPACES, "").line()
    return Isolation(OWN_UID, isolation().why or "not asked for").line()
