"""App-wide messages, posted by workers and handled by the app."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from checker.results import ExerciseResult


@dataclass
class ServerReady(Message):
    """The throwaway Postgres answers."""

    description: str


@dataclass
class ServerFailed(Message):
    """No Postgres could be had; ``reason`` is one line with the cause and the fix."""

    reason: str


@dataclass
class CheckFinished(Message):
    exercise_id: str
    result: ExerciseResult


@dataclass
class CheckFailedToRun(Message):
    exercise_id: str
    reason: str


@dataclass
class FilesChanged(Message):
    """A file of the watched exercise folder was saved (in any editor)."""

    exercise_id: str
