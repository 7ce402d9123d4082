"""Checks for 02-async-lookup: async learner code awaited on an AsyncSession, graded by its answers
and by the real plan of the statement it sent.

The checks are ``async def`` (awaited by the harness), the session comes from an async generator
fixture (closed after each check), and the statement ``find_account`` sent is captured with the
learner's file and line, then explained with its own parameters.
"""

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from checker.authoring import check, explain, fail, fix_or_hint, fixture
from checker.authoring.shared import PLAN_SETTINGS, create_tables, newest_orders, seed_orders

HERE = Path(__file__).parent
FIND_FIX = "select(Account).where(func.lower(Account.email) == email.lower(), Account.deleted_at.is_(None))"


@fixture
def seeded(learner, db):
    create_tables(learner, db)
    seed_orders(db)
    with db.begin() as conn:
        conn.execute(text("INSERT INTO accounts (id, email, deleted_at) VALUES (41, 'gone@example.org', now())"))
        conn.execute(text("INSERT INTO accounts (id, email, deleted_at) VALUES (42, 'ann@example.org', now())"))
    return db


@fixture
async def session(seeded, database_url):
    """An AsyncSession for the learner's functions, closed (and its engine disposed) after the check."""
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            yield session
    finally:
        await engine.dispose()


def _queries(learner):
    queries = learner.queries
    for name in ("find_account", "recent_orders"):
        if getattr(queries, name, None) is None:
            fail(f"queries.py must define `async def {name}(session, ...)`")
    return queries


@check("find-account-whatever-case", "find_account finds the account whatever case the e-mail is typed in")
async def find_account_whatever_case(learner, session):
    found = await _queries(learner).find_account(session, "ann@EXAMPLE.org")
    if found is None or getattr(found, "id", None) != 7:
        fail(
            "find_account(session, 'ann@EXAMPLE.org') should find account 7, stored as 'Ann@Example.org', but returned "
            f"{found!r}: an e-mail typed in another case is the same e-mail. Compare lower(email) on both sides. "
            + fix_or_hint(learner, HERE, FIND_FIX)
        )


@check("find-account-live-only", "find_account ignores deleted accounts")
async def find_account_live_only(learner, session):
    found = await _queries(learner).find_account(session, "gone@example.org")
    if found is not None:
        fail(
            "find_account(session, 'gone@example.org') returned account "
            f"{getattr(found, 'id', found)!r}, which is deleted (its deleted_at is set): only live accounts count. "
            + fix_or_hint(learner, HERE, FIND_FIX)
        )


@check("find-account-uses-the-index", "Postgres answers find_account from the unique index on lower(email)")
async def find_account_uses_the_index(learner, session, sql, db, schema):
    with sql.capture() as log:
        await _queries(learner).find_account(session, "ann@example.org")
    selects = [s for s in log.selects if s.shape.touches("accounts")]
    if not selects:
        fail("find_account sent no SELECT on accounts: build a select(Account) and await session.scalars(...)")
    statement = selects[-1]
    plan = explain(db, statement, settings=PLAN_SETTINGS)
    indexes = {i.name for i in schema.table("accounts").indexes if not i.primary}
    if not any(plan.uses_index(name, searched=True) for name in indexes):
        sql.flag([statement], "no index read")
        fail(
            f"Postgres does not read the e-mail index for the statement find_account sent ({statement.location}); "
            f"its plan is:\n{plan}\nAn index on lower(email) serves only a WHERE that compares lower(email), "
            "on live accounts. " + fix_or_hint(learner, HERE, FIND_FIX)
        )


@check("recent-orders-newest-first", "recent_orders returns the account's newest orders, newest first")
async def recent_orders_newest_first(learner, session, db):
    orders = await _queries(learner).recent_orders(session, 7, 5)
    got = [getattr(order, "id", order) for order in orders or []]
    expected = newest_orders(db, 7, 5)
    if got != expected:
        order = "oldest first" if sorted(got) == sorted(expected) or got == newest_orders(db, 7, 10**6)[::-1][:5] else ""
        fail(
            f"recent_orders(session, 7, 5) returned the orders {got}; expected {expected} (newest first by created_at)"
            + (f": they come {order}" if order else "")
            + ". " + fix_or_hint(learner, HERE, ".order_by(Order.created_at.desc()).limit(limit)")
        )
