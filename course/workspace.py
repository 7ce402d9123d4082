"""The student's workspace: a copy of every exercise's starter files, plus the progress store.

    <workspace>/<module-id>/<exercise-id>/<files>
    <workspace>/.course/progress.sqlite3
    <workspace>/.course/backups/<exercise-id>-<time>/     what ``course reset`` replaced

Starter files are copied only where missing: ``init`` never overwrites a student's work.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path

from course.errors import CourseError
from course.content import Exercise, Module
from course.progress import Progress


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

    def init(self, modules: list[Module]) -> list[Path]:
        """Create the workspace (or add what is missing); returns the files copied."""
        copied = []
        try:
            self.meta_dir.mkdir(parents=True, exist_ok=True)
            for module in modules:
                for exercise in module.exercises:
                    copied += self._copy_missing(exercise)
            self.progress  # noqa: B018 - creates the store
            readme = self.root / "README.txt"
            if not readme.exists():
                readme.write_text(
                    "Your course workspace. Edit the files under <module>/<exercise>/ in any editor.\n"
                    "Grade one with `course check <exercise>` (e.g. `course check 02`), or run `course start`.\n"
                    "Progress lives in .course/; `course reset <exercise>` restores a starter (with a backup).\n"
                )
        except OSError as error:
            raise WorkspaceError(
                f"cannot write the workspace at {self.root}: {error.strerror}; "
                "fix: choose a writable folder with --workspace DIR or COURSE_WORKSPACE"
            ) from None
        return copied

    def _copy_missing(self, exercise: Exercise) -> list[Path]:
        copied = []
        target = self.folder(exercise)
        for source in sorted(exercise.starter_dir.rglob("*")):
            if source.is_dir() or "__pycache__" in source.parts:
                continue
            destination = target / source.relative_to(exercise.starter_dir)
            if not destination.exists():
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, destination)
                copied.append(destination)
        return copied

    def reset(self, exercise: Exercise) -> Path | None:
        """Restore the starter files; the current folder is moved to a backup (returned)."""
        target = self.folder(exercise)
        backup = None
        if target.exists():
            backup = self.meta_dir / "backups" / f"{exercise.id}-{time.strftime('%Y%m%d-%H%M%S')}"
            backup.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(target, backup, ignore=shutil.ignore_patterns("__pycache__"))
            shutil.rmtree(target)
        self._copy_missing(exercise)
        return backup

    def close(self) -> None:
        if self._progress is not None:
            self._progress.close()
            self._progress = None


def grader_fingerprint(exercise: Exercise) -> str:
    """Changes when the exercise's checks or metadata change: results recorded under another
    fingerprint are marked for re-checking."""
    digest = hashlib.sha256()
    for path in (exercise.checks_file, exercise.path / "exercise.toml"):
        if path.exists():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
