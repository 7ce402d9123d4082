"""DocChat data for checks: users and documents seeded so that mistakes show.

Users are inserted in a shuffled order (a missing ORDER BY shows), documents interleaved with
distinct ``created_at`` values that are not in id order (sorting by id instead of date shows),
and some users own no documents. Seeding goes through the grader's own connection, so it is
never counted against the learner's SQL.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import configure_mappers

from checker.api import fail


def configured_models(learner, advice: str = "", explain=None):
    """The learner's ``models`` with ``Base``, ``User`` and ``Document``, every mapper configured
    (a backref only exists after this). A relationship SQLAlchemy cannot set up fails here with
    SQLAlchemy's reason, then ``advice``; ``explain(reason)`` may return a whole message instead."""
    module = learner.models
    for name in ("Base", "User", "Document"):
        if getattr(module, name, None) is None:
            fail(f"models.py must define `{name}`")
    try:
        configure_mappers()
    except SQLAlchemyError as error:
        reason = str(error).split("\n")[0].split("Original exception was: ")[-1]
        reason = reason.split("  If this property")[0].rstrip(". ")
        special = explain(reason) if explain else None
        fail(special or f"SQLAlchemy cannot set up the relationships in models.py: {reason}{advice}")
    return module


def plan(user_ids: list[int], seed: int) -> tuple[list[int], dict[int, list[int]]]:
    """Users in a shuffled insertion order, and each user's document ids (some users have none)."""
    rng = random.Random(seed)
    order = list(user_ids)
    rng.shuffle(order)
    if order == sorted(order):
        order.reverse()
    documents: dict[int, list[int]] = {}
    for user_id in user_ids:
        count = user_id % 4  # 0..3 documents: users 4, 8, ... own none
        documents[user_id] = [user_id * 100 + n for n in range(1, count + 1)]
    return order, documents


def seed(db, user_ids: list[int], seed_value: int) -> dict[int, list[int]]:
    """Insert users (shuffled) and their documents (interleaved), through the grader's connection."""
    order, documents = plan(user_ids, seed_value)
    rows = [(doc_id, owner) for owner in order for doc_id in documents[owner]]
    random.Random(seed_value + 1).shuffle(rows)
    start = datetime(2024, 1, 1, 8, 0)
    with db.begin() as conn:  # one round trip per table (executemany is pipelined)
        conn.execute(
            text("INSERT INTO users (id, email, name) VALUES (:id, :email, :name)"),
            [{"id": u, "email": f"user{u}@example.com", "name": f"User {u}"} for u in order],
        )
        if rows:
            conn.execute(
                text(
                    "INSERT INTO documents (id, title, body, owner_id, created_at) "
                    "VALUES (:id, :title, :body, :owner_id, :created_at)"
                ),
                [
                    {
                        "id": doc_id,
                        "title": f"Document {doc_id}",
                        "body": "text",
                        "owner_id": owner,
                        # distinct, and not in id order
                        "created_at": start + timedelta(hours=(n * 7) % len(rows), minutes=n),
                    }
                    for n, (doc_id, owner) in enumerate(rows)
                ],
            )
        for table in ("users", "documents"):
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 1) FROM {table}))"
                )
            )
    return documents
