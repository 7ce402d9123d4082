"""App-wide messages: what workers report to the app, and what the screens ask of it (the
screens never import the app: they post these, the app handles them)."""

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


# -- what a screen asks of the app ----------------------------------------------------------


@dataclass
class CheckRequested(Message):
    """Check this exercise now (the learner pressed c)."""

    exercise_id: str


@dataclass
class CancelCheckRequested(Message):
    """Stop the running check (the learner pressed x)."""


@dataclass
class ExerciseSaved(Message):
    """The learner saved the exercise's files from the app (their $EDITOR): checked as any save is."""

    exercise_id: str
