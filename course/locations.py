"""Every path the runner uses, in one place; each one can be overridden by an environment variable.

Tests point these at temporary directories so that nothing touches a real home directory.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def builtin_content_root() -> Path:
    """The directory that holds the shipped ``lessons/``, ``exercises/`` and ``quizzes/``.

    An installed wheel carries them inside the package (``course/_content``); a source checkout
    (editable install, or running from the repository) has them at the repository root.
    """
    packaged = PACKAGE_DIR / "_content"
    if (packaged / "lessons").is_dir():
        return packaged
    return PACKAGE_DIR.parent


def workspace_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The student's workspace: ``--workspace``, else ``COURSE_WORKSPACE``, else ``./course-work``."""
    chosen = explicit or os.environ.get("COURSE_WORKSPACE") or "course-work"
    return Path(chosen).expanduser().resolve()


def state_dir() -> Path:
    """Where throwaway Postgres servers live (data directories, sockets, pid files).

    ``COURSE_STATE_DIR`` overrides it. The default is per user in the temp directory (data here
    is disposable by design): ``course-<uid>``, or ``course-<login name>`` where there are no
    uids (Windows). Where its path is too long for a unix socket (macOS's ``$TMPDIR``), the
    servers' sockets go to a short folder of their own (``embedded.socket_folder``).
    """
    override = os.environ.get("COURSE_STATE_DIR")
    if override:
        return Path(override).expanduser().resolve()
    from checker.process import platform

    return Path(tempfile.gettempdir()) / f"course-{platform.user_tag()}"


RAM_DIR = Path("/dev/shm")
RAM_NEEDED = 1 << 30
"""Free bytes ``/dev/shm`` must have before servers go there (a container's 64 MB does not)."""


def servers_dir() -> Path:
    """Where the throwaway servers' data directories and sockets live.

    In RAM (``/dev/shm``) where there is room: CREATE DATABASE and DDL are 10-30x faster there
    than on a disk, even with fsync off, and the data is disposable anyway. Otherwise
    ``servers/`` in the state directory. ``COURSE_SERVERS_DIR`` overrides. The choice sticks once
    made, so every ``course`` process of one state directory finds the same servers.
    """
    override = os.environ.get("COURSE_SERVERS_DIR")
    if override:
        return Path(override).expanduser().resolve()
    state = state_dir()
    on_disk = state / "servers"
    from checker.process import platform

    if not platform.ram_folder():  # macOS, Windows, or the portable mode
        return on_disk
    tag = hashlib.sha256(str(state).encode()).hexdigest()[:10]
    ram = RAM_DIR / f"course-{platform.user_tag()}-{tag}"
    if ram.is_dir():
        return ram
    if not (on_disk / "persistent").exists() and _room_in_ram():
        return ram
    return on_disk


def _room_in_ram() -> bool:
    from checker.process import platform

    try:
        free = platform.disk_free(RAM_DIR)
    except OSError:
        return False
    return os.access(RAM_DIR, os.W_OK) and free >= RAM_NEEDED
