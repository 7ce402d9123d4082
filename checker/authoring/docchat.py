"""Deprecated (0.2): the built-in course's DocChat helpers, kept for content written before.

They are the built-in course's own content now, in ``exercises/sqlalchemy-2/_shared/helpers.py``
(imported there with ``from checker.authoring.shared import ...``). ``checker.authoring`` still
hands out these names, with a ``DeprecationWarning``, until 0.3: copy what your module uses into
its ``exercises/<module>/_shared/helpers.py``. This copy is frozen; fixes go to the content's.

DocChat data for checks: users and documents seeded so that mistakes show.

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


def learner_engine(learner, what: str = "the Engine, created with create_engine(...)", *, provided: bool = False):
    """The learner's ``db.engine``: a failure that says what to define (``what``) when it is missing,
    and one when it is not an Engine (``provided``: db.py came complete with the starter)."""
    from sqlalchemy.engine import Engine

    engine = learner.require("db", "engine", what)
    if not isinstance(engine, Engine):
        if provided:
            fail("db.py is provided: restore it (db.engine must be the Engine from create_engine(...))")
        fail(f"db.engine must be an Engine from create_engine(...), not {type(engine).__name__}")
    return engine


def url_mismatch(actual, database_url: str, said: str = "db.engine points at") -> str | None:
    """``None`` when the URL ``actual`` (a ``sqlalchemy.engine.URL``) names the database, user and
    host of ``database_url``; else the sentence that says where it points instead."""
    from sqlalchemy.engine import make_url

    expected = make_url(database_url)
    if (actual.database, actual.username, actual.host, actual.query.get("host")) == (
        expected.database,
        expected.username,
        expected.host,
        expected.query.get("host"),
    ):
        return None
    return (
        f"{said} {actual.render_as_string(hide_password=True)}, "
        f"but DATABASE_URL is {expected.render_as_string(hide_password=True)}"
    )


def no_url_literal(learner, filename: str) -> None:
    """Fail when ``filename`` holds a database URL in a string literal (credentials in git)."""
    from checker.authoring.inspectors import url_literals

    literals = url_literals(learner.source(filename))
    if literals:
        line, value = literals[0]
        fail(
            f"{filename}:{line} contains a connection string ({value!r}). Credentials in source end up in git "
            'and tie the code to one machine: read the URL with os.environ["DATABASE_URL"] instead '
            "(no fallback literal either)"
        )


def session_factory(learner):
    """The learner's ``db.SessionLocal``: a failure unless it is a factory of sessions."""
    factory = learner.require("db", "SessionLocal", "a sessionmaker bound to engine")
    if not callable(factory):
        fail(
            f"db.SessionLocal is a {type(factory).__name__} object, not a factory: "
            "use SessionLocal = sessionmaker(bind=engine), then open a session with SessionLocal()"
        )
    return factory


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
                text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT coalesce(max(id), 1) FROM {table}))")
            )
    return documents


def first_order_by(statements, table: str) -> tuple[str, ...] | None:
    """The ORDER BY terms of the first SELECT from ``table`` among ``statements`` (captured SQL);
    ``None`` when no such SELECT was sent. Lazy and eager loads are not the query asked for."""
    for statement in statements:
        if (
            statement.shape.kind == "SELECT"
            and statement.shape.touches(table)
            and not statement.lazy_load
            and not statement.relationship_load
        ):
            return statement.shape.order_by
    return None


def ordering_mistake(ordering: tuple[str, ...] | None, column: str, descending: bool, fix: str) -> str:
    """What the query did instead of sorting by ``column`` (descending or not), from the ORDER BY it
    sent (see :func:`first_order_by`) — so the message names the real mistake — ending with ``fix``."""
    if ordering is None:
        return f"No query sorted them (if you sort in Python, sort in the query instead): {fix}"
    if not ordering:
        return (
            "Your query has no ORDER BY, so Postgres returns the rows in whatever order it finds them "
            f"(here: the order they were inserted): {fix}"
        )
    terms = ", ".join(ordering)
    first = ordering[0].split()
    name = first[0].split(".")[-1].strip('"') if first else ""
    is_descending = len(first) > 1 and first[1].upper() == "DESC"
    if name == column and is_descending != descending:
        direction = "descending" if is_descending else "ascending"
        return f"Your query sorts by {terms}: {direction}, the wrong direction{' (oldest first)' if column == 'created_at' else ''}: {fix}"
    if name == column:
        return f"Your query sorts by {terms}: {fix}"
    why = ""
    if name == "id" and column != "id":
        why = ". Ids say in which order rows were inserted, not when they were created (imports and backfills break that)"
    return f"Your query orders by another column (ORDER BY {terms}){why}: {fix}"


def close_not_called(learner, filename: str) -> str | None:
    """When ``filename`` has a bare ``x.close`` statement (the parentheses forgotten), the sentence
    that says so: that, not a missing ``finally``, is why the session kept its connection."""
    from checker.authoring.inspectors import uncalled

    lines = uncalled(learner.source(filename), "close")
    if not lines:
        return None
    code = learner.source(filename).splitlines()[lines[0] - 1].strip()
    return (
        f"{filename}:{lines[0]} says `{code}` without parentheses: that only names the method, it does not "
        f"call it, so the session is never closed. Call it: `{code}()`"
    )
