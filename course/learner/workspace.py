"""The student's workspace: a copy of every exercise's starter files, plus the progress store.

    <workspace>/<module-id>/<exercise-id>/<files>
    <workspace>/.course/progress.sqlite3
    <workspace>/.course/backups/<exercise-id>-<time>[-n]/     what ``course reset`` replaced
    <workspace>/.course/reset.lock                            held while a reset runs

Starter files are laid out once per exercise, the first time the workspace meets it (content
added later arrives on the next command); the progress store records which exercises were laid
out. After that a file the student deleted stays deleted — ``course check`` says it is missing
and that ``course reset`` restores the starter. ``init`` never overwrites a student's work.
"""

from __future__ import annotations

import errno
import os
import shutil
import time
from pathlib import Path

from checker.process import platform
from course.content.model import Exercise, Module
from course.errors import CourseError
from course.learner.progress import Progress


class WorkspaceError(CourseError):
    """The workspace cannot be used; ``str()`` says why and what to do."""


class Workspace:
    def __init__(self, root: Path):
        self.root = root
        self._progress: Progress | None = None

    @property
    def meta_dir(self) -> Path:
        return self.root / ".course"

    @property
    def exists(self) -> bool:
        return (self.meta_dir / "progress.sqlite3").exists()

    @property
    def progress(self) -> Progress:
        if self._progress is None:
            self._progress = Progress(self.meta_dir / "progress.sqlite3")
        return self._progress

    def folder(self, exercise: Exercise) -> Path:
        return self.root / exercise.module_id / exercise.id

    def record(self, exercise: Exercise, result) -> None:
        """Keep ``result`` (an ``ExerciseResult``) as the exercise's latest, under the grader's
        fingerprint, and remember the exercise as where the learner is."""
        self.progress.record_result(exercise.full_id, result.status, exercise.fingerprint, result.to_json())
        self.progress.set("position", exercise.full_id)

    def init(self, modules: list[Module]) -> list[Path]:
        """Create the workspace, or lay out exercises it has never had; returns the files copied.

        An exercise counts as had once it was laid out, or when its folder exists (a workspace
        made before this was recorded): its missing files are never copied again.
        """
        copied = []
        try:
            self.meta_dir.mkdir(parents=True, exist_ok=True)
            self.progress  # noqa: B018 - creates the store
            for module in modules:
                for exercise in module.exercises:
                    copied += self._lay_out(exercise)
            readme = self.root / "README.txt"
            if not readme.exists():
                readme.write_text(
                    "Your course workspace. Edit the files under <module>/<exercise>/ in any editor.\n"
                    "Grade one with `course check <exercise>` (e.g. `course check 02`), or run `course start`.\n"
                    "Progress lives in .course/; `course reset <exercise>` restores a starter (with a backup).\n",
                    encoding="utf-8",
                )
        except OSError as error:
            raise WorkspaceError(
                f"cannot write the workspace at {self.root}: {error.strerror}; "
                "fix: choose a writable folder with --workspace DIR or COURSE_WORKSPACE"
            ) from None
        return copied

    def _lay_out(self, exercise: Exercise) -> list[Path]:
        """Copy the starter of an exercise the workspace has never had, and remember it."""
        key = LAID_OUT + exercise.full_id
        if self.progress.get(key) is not None:
            return []
        copied = [] if self.folder(exercise).exists() else self._copy_missing(exercise)
        self.progress.set(key, time.strftime("%Y-%m-%dT%H:%M:%S"))
        return copied

    def missing_files(self, exercise: Exercise) -> list[str]:
        """The exercise's files (``edit`` and ``provided``) absent from its folder."""
        return missing_files(exercise, self.folder(exercise))

    def _copy_missing(self, exercise: Exercise) -> list[Path]:
        copied = []
        target = self.folder(exercise)
        for source in sorted(exercise.starter_dir.rglob("*")):
            if source.is_dir() or "__pycache__" in source.parts:
                continue
            destination = target / source.relative_to(exercise.starter_dir)
            if _through_a_link(self.root, destination):
                continue  # never written through a link (out of the workspace, or onto another file)
            if not destination.exists():
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, destination)
                copied.append(destination)
        return copied

    def reset(self, exercise: Exercise) -> Path | None:
        """Restore the starter files; the current folder becomes a backup (returned).

        The folder is moved, not copied, so a backup is always whole: an interrupted reset leaves
        either the old folder or a complete backup. Where a move is impossible (the backups on
        another file system) the copy is made under a ``.partial-<pid>`` name and renamed when
        complete; partial copies of reset processes that no longer run are removed here.
        """
        target = self.folder(exercise)
        backups = self.meta_dir / "backups"
        for folder in (self.meta_dir, backups, target.parent):
            if folder.is_symlink():  # a link would take the backup, or the starter files, out of the workspace
                raise WorkspaceError(
                    f"cannot reset {target}: {folder} is a symbolic link (to {os.readlink(folder)}), and course reset "
                    "never follows a link out of the workspace; fix: replace the link with a real folder"
                )
        try:
            backups.mkdir(parents=True, exist_ok=True)
            with open(
                self.meta_dir / "reset.lock", "a+", encoding="utf-8"
            ) as lock:  # one at a time: another would move the folder mid-copy
                with platform.locked(lock):
                    _remove_abandoned_partials(backups)
                    present = target.exists() or target.is_symlink()  # a link is moved aside as a link
                    backup = _move_aside(target, backups, exercise.id) if present else None
                    self._copy_missing(exercise)
        except OSError as error:
            raise WorkspaceError(
                f"cannot reset {target}: {error.strerror or error}; "
                "fix: make the workspace writable (your files are where they were, or in .course/backups/)"
            ) from None
        return backup

    def close(self) -> None:
        if self._progress is not None:
            self._progress.close()
            self._progress = None


LAID_OUT = "laid-out:"
"""Progress setting ``laid-out:<module>/<exercise>``: when its starter was copied."""


def missing_files(exercise: Exercise, folder: Path) -> list[str]:
    """Files listed in ``edit`` / ``provided`` that ``folder`` lacks (a listed folder must exist)."""
    return [name for name in exercise.files if not (folder / name).exists()]


def missing_files_result(exercise: Exercise, missing: list[str]):
    """The result of checking an exercise whose folder lacks ``missing``: nothing is graded."""
    from checker.results import ExerciseResult

    return ExerciseResult.missing_files(exercise.full_id, exercise.id, missing)


def _through_a_link(root: Path, path: Path) -> bool:
    """Whether ``path``, or a folder between ``root`` and it, is a symbolic link."""
    current = path
    while current != root and current != current.parent:
        if current.is_symlink():
            return True
        current = current.parent
    return False


PARTIAL = ".partial-"
"""Marks a backup copy still being written by the process whose pid follows."""


def _move_aside(folder: Path, backups: Path, name: str) -> Path | None:
    """Move ``folder`` to a new backup folder (never one that exists, even within one second)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for attempt in range(1, 1000):
        backup = backups / (f"{name}-{stamp}" if attempt == 1 else f"{name}-{stamp}-{attempt}")
        if backup.exists() or any(backups.glob(f"{backup.name}{PARTIAL}*")):
            continue
        try:
            folder.rename(backup)
        except FileNotFoundError:
            return None  # another reset moved it first
        except OSError as error:
            if error.errno in (errno.EEXIST, errno.ENOTEMPTY):
                continue  # taken by a concurrent reset a moment ago
            if error.errno != errno.EXDEV:
                raise
            _copy_then_remove(folder, backup)
        if not backup.is_symlink():  # never into what a link points at
            for root, dirs, _files in os.walk(backup):  # os.walk does not follow links
                if "__pycache__" in dirs:
                    shutil.rmtree(os.path.join(root, "__pycache__"), ignore_errors=True)
                    dirs.remove("__pycache__")
        return backup
    raise FileExistsError(errno.EEXIST, "too many backups in one second", str(backups))


def _copy_then_remove(folder: Path, backup: Path) -> None:
    """Copy ``folder`` to ``backup``, then remove it; links are copied as links (never followed:
    what one points at is not the learner's work, and stays where it is)."""
    partial = backup.with_name(f"{backup.name}{PARTIAL}{os.getpid()}")
    if folder.is_symlink():
        os.symlink(os.readlink(folder), partial)
        partial.rename(backup)
        folder.unlink()
        return
    shutil.copytree(folder, partial, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    partial.rename(backup)
    shutil.rmtree(folder)


def _remove_abandoned_partials(backups: Path) -> None:
    from course.postgres.embedded import process_alive

    for partial in backups.glob(f"*{PARTIAL}*"):
        pid = partial.name.rpartition(PARTIAL)[2]
        if not pid.isdigit() or not process_alive(int(pid)):
            shutil.rmtree(partial, ignore_errors=True)


def grader_fingerprint(exercise: Exercise) -> str:
    """Changes when the exercise's checks or metadata change (see ``Exercise.fingerprint``)."""
    return exercise.fingerprint
