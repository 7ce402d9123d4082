"""Every path the runner uses, in one place; each one can be overridden by an environment variable.

Tests point these at temporary directories so that nothing touches a real home directory.
"""

from __future__ import annotations

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

    ``COURSE_STATE_DIR`` overrides it. The default is per user in the temp directory: data here
    is disposable by design, and a short path keeps unix socket names under their length limit.
    """
    override = os.environ.get("COURSE_STATE_DIR")
    if override:
        return Path(override).expanduser().resolve()
    return Path(tempfile.gettempdir()) / f"course-{os.getuid()}"
