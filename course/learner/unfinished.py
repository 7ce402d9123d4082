"""The TODOs of an exercise's starter that the learner's files still hold unchanged.

``course exec`` names the first one when the command it ran fails: on an unfinished starter a
tool's own error (Alembic's "Can't load plugin: sqlalchemy.dialects:driver") rarely says that
the cause is a TODO not done yet.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from course.content.model import Exercise

SOURCES = (".py", ".ini", ".mako")
AFTER = 2
"""Lines after a TODO's comment that must be unchanged too: where the learner's code goes."""


@dataclass
class Todo:
    file: str
    """Relative to the exercise folder."""
    line: int
    text: str
    """The TODO's first line, without the comment sign."""

    def describe(self) -> str:
        return f'{self.file}:{self.line} is still as the starter left it: "{self.text}"'


def unfinished_todos(exercise: Exercise, folder: Path) -> list[Todo]:
    """Every TODO of the starter found, with the lines after it, unchanged in ``folder``."""
    found = []
    for starter in sorted(exercise.starter_dir.rglob("*")):
        if not starter.is_file() or starter.suffix not in SOURCES or "__pycache__" in starter.parts:
            continue
        relative = starter.relative_to(exercise.starter_dir)
        mine = folder / relative
        if not mine.is_file():
            continue
        try:
            untouched = {block for _line, block in _todo_blocks(starter.read_text(encoding="utf-8"))}
            current = list(_todo_blocks(mine.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError):
            continue
        for line, block in current:
            if block in untouched:
                found.append(Todo(relative.as_posix(), line, block[0].lstrip("#").strip()))
    return found


def _todo_blocks(text: str) -> Iterator[tuple[int, tuple[str, ...]]]:
    """``(line number, lines)`` of each TODO comment: its comment lines and the AFTER lines next."""
    lines = [line.strip() for line in text.splitlines()]
    index = 0
    while index < len(lines):
        if lines[index].startswith("#") and "TODO" in lines[index]:
            end = index + 1
            while end < len(lines) and lines[end].startswith("#") and "TODO" not in lines[end]:
                end += 1
            yield index + 1, tuple(lines[index : end + AFTER])
            index = end
        else:
            index += 1
