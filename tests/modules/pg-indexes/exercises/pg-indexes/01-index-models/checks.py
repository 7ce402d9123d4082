"""Checks for 01-index-models: the indexes judged by what Postgres does with them.

Uniqueness by behaviour (two live accounts whose e-mails differ in case are refused; a deleted
account's e-mail can be reused), the orders index by the real plan of the app's query (an index
read, no Sort step). The reflected indexes (``schema.table(...).indexes``) only name what is there
in the messages.
"""

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from checker.authoring import check, explain, fail, fix_or_hint, fixture
from checker.authoring.shared import PLAN_SETTINGS, create_tables, seed_orders

HERE = Path(__file__).parent
UNIQUE_FIX = 'Index("ux_accounts_email_live", func.lower(email), unique=True, postgresql_where=deleted_at.is_(None))'
ORDERS_FIX = 'Index("ix_orders_account_created", "account_id", "created_at")'
NEWEST = "SELECT id FROM orders WHERE account_id = 7 ORDER BY created_at DESC LIMIT 5"


@fixture
def tables(learner, db):
    create_tables(learner, db)
    return db


def _insert(db, email: str, deleted: bool = False) -> None:
    with db.begin() as conn:
        conn.execute(
            text("INSERT INTO accounts (email, deleted_at) VALUES (:e, CASE WHEN :d THEN now() END)"), {"e": email, "d": deleted}
        )


def _indexes(schema, table: str) -> str:
    return "; ".join(i.definition for i in schema.table(table).indexes if not i.primary) or "none"


@check("email-unique-whatever-case", "Two live accounts may not share an e-mail, whatever its case")
def email_unique_whatever_case(tables, schema, learner):
    _insert(tables, "ann@example.org")
    try:
        _insert(tables, "Ann@Example.ORG")
    except IntegrityError:
        return
    fail(
        "Postgres accepted two live accounts whose e-mails differ only in case (ann@example.org, Ann@Example.ORG): "
        f"a unique index must be on lower(email), not on email. Indexes on accounts: {_indexes(schema, 'accounts')}. "
        + fix_or_hint(learner, HERE, UNIQUE_FIX)
    )


@check("deleted-account-frees-email", "A deleted account's e-mail can be taken by a new account")
def deleted_account_frees_email(tables, schema, learner):
    _insert(tables, "bob@example.org", deleted=True)
    try:
        _insert(tables, "bob@example.org")
    except IntegrityError:
        fail(
            "Postgres refused a new account because a deleted account had its e-mail: the unique index must "
            "cover live accounts only (a partial index, postgresql_where=deleted_at.is_(None)). "
            f"Indexes on accounts: {_indexes(schema, 'accounts')}. " + fix_or_hint(learner, HERE, UNIQUE_FIX)
        )


@check("orders-newest-first-by-index", "An account's newest orders are read from an index, already in order")
def orders_newest_first_by_index(tables, schema, learner, db):
    seed_orders(db)
    plan = explain(db, NEWEST, settings=PLAN_SETTINGS)
    if not plan.uses_index(table="orders"):
        fail(
            f"Postgres reads every order to find one account's ({NEWEST}): no index starts with account_id.\n{plan}\n"
            + fix_or_hint(learner, HERE, ORDERS_FIX)
        )
    if plan.sorts():
        fail(
            f"Postgres finds the account's orders by an index, then adds a Sort step to order them by created_at "
            f"({NEWEST}): an index on (account_id, created_at) hands them over in order. Plan:\n{plan}\n"
            f"Indexes on orders: {_indexes(schema, 'orders')}. " + fix_or_hint(learner, HERE, ORDERS_FIX)
        )
