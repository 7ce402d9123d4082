"""Helpers the pg-indexes checks share (imported with ``from checker.authoring.shared import ...``).

Seed data is inserted through the grader's own engine (``db``), so it never counts as the
learner's SQL; there are enough rows that an index is worth reading, and the plan is asked for
with sequential scans discouraged (``PLAN_SETTINGS``): "could Postgres use an index?" is then
answered the same on any machine.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import text

from checker.authoring import fail, step

PLAN_SETTINGS = {"enable_seqscan": "off"}
START = datetime(2024, 1, 1, 12, 0)


def create_tables(learner, db) -> None:
    """The learner's tables, created from their models (a failure says what broke)."""
    models = learner.models
    for name in ("Base", "Account", "Order"):
        if getattr(models, name, None) is None:
            fail(f"models.py must define `{name}`")
    with step("creating the tables from your models", "models.py"):
        models.Base.metadata.create_all(db)


def seed_orders(db, accounts: int = 40, per_account: int = 30) -> None:
    """Accounts 1..``accounts`` (account 7 is ``ann@example.org``), each with ``per_account``
    orders whose ``created_at`` is not in id order (sorting by id instead of date shows)."""
    with db.begin() as conn:
        conn.execute(
            text("INSERT INTO accounts (id, email) SELECT g, 'user' || g || '@example.org' FROM generate_series(1, :n) g"),
            {"n": accounts},
        )
        conn.execute(text("UPDATE accounts SET email = 'Ann@Example.org' WHERE id = 7"))
        conn.execute(
            text(
                "INSERT INTO orders (id, account_id, created_at, total) "
                "SELECT g, 1 + (g % :n), :start + ((g * 7919) % 997) * interval '1 hour', g FROM generate_series(1, :rows) g"
            ),
            {"n": accounts, "rows": accounts * per_account, "start": START},
        )
        conn.execute(text("ANALYZE accounts"))
        conn.execute(text("ANALYZE orders"))


def newest_orders(db, account_id: int, limit: int) -> list[int]:
    """The ids of ``account_id``'s newest orders, as Postgres orders them (the expected answer)."""
    with db.connect() as conn:
        rows = conn.execute(
            text("SELECT id FROM orders WHERE account_id = :a ORDER BY created_at DESC LIMIT :l"), {"a": account_id, "l": limit}
        )
        return [row[0] for row in rows]


def after_days(days: int) -> datetime:
    return START + timedelta(days=days)
