"""Opening an exercise's main file in the learner's own editor: ``$VISUAL``, else ``$EDITOR``."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

from course.content.model import Exercise
from course.errors import CourseError


class EditorFailed(CourseError):
    """The learner's editor could not be run; ``str()`` says why and what to do."""


def main_file(folder: Path, exercise: Exercise) -> Path:
    """The file to open: the first of the exercise's ``edit`` entries that is a file, else the folder."""
    for name in exercise.edit:
        if (folder / name).is_file():
            return folder / name
    return folder


def editor_command() -> list[str] | None:
    """``$VISUAL`` or ``$EDITOR`` split like a shell would (``code --wait``), or None when unset."""
    chosen = (os.environ.get("VISUAL") or os.environ.get("EDITOR") or "").strip()
    return shlex.split(chosen) if chosen else None


def require_editor(command: list[str]) -> None:
    """Raise EditorFailed now, before the terminal is handed over, when the editor is not there."""
    if shutil.which(command[0]) is None:
        raise _failed(command, "not found")


def run_editor(command: list[str], path: Path) -> int:
    """Run the editor on ``path`` in its folder and wait for it; its exit code."""
    require_editor(command)
    try:
        return subprocess.run([*command, str(path)], cwd=path if path.is_dir() else path.parent, check=False).returncode
    except OSError as error:
        raise _failed(command, error.strerror or str(error)) from None


def _failed(command: list[str], why: str) -> EditorFailed:
    return EditorFailed(
        f"cannot run your editor {command[0]!r} (from $VISUAL/$EDITOR): {why}; "
        "fix: set EDITOR to an installed editor (e.g. export EDITOR=nano), or unset it to use the built-in one"
    )
