"""The student's progress: a small SQLite database inside the workspace.

SQLite (stdlib ``sqlite3``, no SQLAlchemy on the start-up path) gives atomic, durable writes:
a crash or ``kill -9`` mid-write loses at most that write, never the file. Rows are keyed by
stable ids (``sqlalchemy-2/05-relationships``), so reordering content loses nothing. The
schema carries a version (``PRAGMA user_version``); :data:`MIGRATIONS` brings an older store up
to date when a newer release opens it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from course.errors import CourseError

SCHEMA_VERSION = 3

MIGRATIONS: dict[int, str] = {
    # version reached -> SQL that gets there from the previous version
    1: """
        CREATE TABLE results (
            exercise TEXT NOT NULL,
            at REAL NOT NULL,
            status TEXT NOT NULL,
            grader TEXT NOT NULL,
            data TEXT NOT NULL
        );
        CREATE INDEX results_by_exercise ON results (exercise, at);
        CREATE TABLE counters (
            exercise TEXT NOT NULL,
            kind TEXT NOT NULL,
            value INTEGER NOT NULL,
            PRIMARY KEY (exercise, kind)
        );
        CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    2: """
        CREATE TABLE quiz_cards (card TEXT PRIMARY KEY, state TEXT NOT NULL, due REAL NOT NULL);
        CREATE TABLE quiz_reviews (
            card TEXT NOT NULL,
            at REAL NOT NULL,
            rating INTEGER NOT NULL,
            correct INTEGER,
            answer TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX quiz_reviews_by_card ON quiz_reviews (card, at);
    """,
    # choices are shuffled: a review records the ids picked and the order shown (JSON), not
    # positions; reviews from v2 keep their ``answer`` text and have NULL here
    3: """
        ALTER TABLE quiz_reviews ADD COLUMN choices TEXT
    """,
}


class ProgressError(CourseError):
    """The store cannot be used; ``str()`` says why and what to do."""


@dataclass
class LatestResult:
    status: str
    at: float
    grader: str
    attempts: int


class Progress:
    """Read and record a student's progress. Every write is its own transaction."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(path, timeout=10, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._migrate()
        except sqlite3.DatabaseError as error:
            raise ProgressError(
                f"cannot open the progress store {path}: {error}; "
                "fix: make the workspace writable, or move the file aside to start fresh"
            ) from None

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise ProgressError(
                f"{self.path} was written by a newer version of course (store v{version}, this one knows "
                f"v{SCHEMA_VERSION}); fix: upgrade course (pip install -U course)"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for statement in filter(str.strip, MIGRATIONS[target].split(";")):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {target}")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    @property
    def schema_version(self) -> int:
        return self._db.execute("PRAGMA user_version").fetchone()[0]

    def close(self) -> None:
        self._db.close()

    # -- results -----------------------------------------------------------------------------

    def record_result(self, exercise: str, status: str, grader: str, data: dict) -> None:
        self._db.execute(
            "INSERT INTO results (exercise, at, status, grader, data) VALUES (?, ?, ?, ?, ?)",
            (exercise, time.time(), status, grader, json.dumps(data)),
        )

    def latest(self, exercise: str) -> LatestResult | None:
        row = self._db.execute(
            "SELECT status, at, grader, (SELECT count(*) FROM results WHERE exercise = ?) "
            "FROM results WHERE exercise = ? ORDER BY at DESC LIMIT 1",
            (exercise, exercise),
        ).fetchone()
        return LatestResult(*row) if row else None

    def latest_result(self, exercise: str) -> tuple[dict, LatestResult] | None:
        """The last recorded result in full (its JSON, SQL included) and its summary."""
        row = self._db.execute(
            "SELECT data, status, at, grader, (SELECT count(*) FROM results WHERE exercise = ?) "
            "FROM results WHERE exercise = ? ORDER BY at DESC LIMIT 1",
            (exercise, exercise),
        ).fetchone()
        return (json.loads(row[0]), LatestResult(*row[1:])) if row else None

    def ever_passed(self, exercise: str) -> bool:
        row = self._db.execute("SELECT 1 FROM results WHERE exercise = ? AND status = 'pass' LIMIT 1", (exercise,))
        return row.fetchone() is not None

    # -- counters (hints seen, solution requests) ---------------------------------------------

    def bump(self, exercise: str, kind: str) -> int:
        self._db.execute(
            "INSERT INTO counters (exercise, kind, value) VALUES (?, ?, 1) "
            "ON CONFLICT (exercise, kind) DO UPDATE SET value = value + 1",
            (exercise, kind),
        )
        return self.count(exercise, kind)

    def count(self, exercise: str, kind: str) -> int:
        row = self._db.execute("SELECT value FROM counters WHERE exercise = ? AND kind = ?", (exercise, kind)).fetchone()
        return row[0] if row else 0

    # -- quiz cards (spaced repetition) -------------------------------------------------------

    def quiz_card(self, card: str) -> dict | None:
        row = self._db.execute("SELECT state FROM quiz_cards WHERE card = ?", (card,)).fetchone()
        return json.loads(row[0]) if row else None

    def record_quiz_review(
        self, card: str, state: dict, due: float, rating: int, correct: bool | None, answer: str, choices: dict | None = None
    ) -> None:
        """Store the review and the card's new state in one transaction.

        ``choices``: for a choice question, ``{"picked": [ids], "shown": [ids in the order shown]}``.
        """
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute(
                "INSERT INTO quiz_cards (card, state, due) VALUES (?, ?, ?) "
                "ON CONFLICT (card) DO UPDATE SET state = excluded.state, due = excluded.due",
                (card, json.dumps(state), due),
            )
            self._db.execute(
                "INSERT INTO quiz_reviews (card, at, rating, correct, answer, choices) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    card,
                    time.time(),
                    rating,
                    None if correct is None else int(correct),
                    answer,
                    None if choices is None else json.dumps(choices),
                ),
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def quiz_reviews(self, card: str) -> list[tuple[bool | None, int]]:
        rows = self._db.execute("SELECT correct, rating FROM quiz_reviews WHERE card = ? ORDER BY at", (card,))
        return [(None if correct is None else bool(correct), rating) for correct, rating in rows]

    def quiz_answers(self, card: str) -> list[tuple[str, dict | None]]:
        """Each review's answer text and recorded choices (None for reviews stored before v3)."""
        rows = self._db.execute("SELECT answer, choices FROM quiz_reviews WHERE card = ? ORDER BY at", (card,))
        return [(answer, None if choices is None else json.loads(choices)) for answer, choices in rows]

    # -- settings (last position...) ---------------------------------------------------------

    def get(self, key: str, default: str | None = None) -> str | None:
        row = self._db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
