"""The ORDER BY a query sent is read off its SQL, and the message names what the code did: no ORDER
BY, another column, the wrong direction. SQL compiled by SQLAlchemy for Postgres, no database."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, select
from sqlalchemy.dialects import postgresql

from checker.authoring.docchat import ordering_mistake
from checker.capture.shape import Shape

documents = Table(
    "documents", MetaData(), Column("id", Integer, primary_key=True), Column("title", String), Column("created_at", DateTime)
)
FIX = "fix it"


def sent(statement) -> Shape:
    return Shape(str(statement.compile(dialect=postgresql.dialect())))


@pytest.mark.parametrize(
    ("statement", "terms"),
    [
        (select(documents), ()),
        (select(documents).order_by(documents.c.created_at.desc()), ("documents.created_at DESC",)),
        (
            select(documents).order_by(documents.c.created_at.desc(), documents.c.id).limit(3),
            ("documents.created_at DESC", "documents.id"),
        ),
        (select(documents).where(documents.c.id.in_(select(documents.c.id).order_by(documents.c.title).limit(2))), ()),
    ],
)
def test_the_outermost_order_by_is_read(statement, terms):
    assert sent(statement).order_by == terms


def test_each_ordering_mistake_is_named_from_the_evidence():
    none = ordering_mistake(sent(select(documents)).order_by, "created_at", True, FIX)
    assert "has no ORDER BY" in none and none.endswith(FIX)
    ascending = ordering_mistake(sent(select(documents).order_by(documents.c.created_at)).order_by, "created_at", True, FIX)
    assert "the wrong direction (oldest first)" in ascending
    by_id = ordering_mistake(sent(select(documents).order_by(documents.c.id.desc())).order_by, "created_at", True, FIX)
    assert "orders by another column (ORDER BY documents.id DESC)" in by_id and "Ids say" in by_id
    by_title = ordering_mistake(sent(select(documents).order_by(documents.c.title)).order_by, "created_at", True, FIX)
    assert "ORDER BY documents.title" in by_title and "Ids say" not in by_title
    assert "No query sorted them" in ordering_mistake(None, "created_at", True, FIX)
