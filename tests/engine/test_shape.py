"""What ``Shape`` reads off a statement's text: the tables it touches, however they are joined."""

from __future__ import annotations

import pytest

from checker.capture.shape import Shape


@pytest.mark.parametrize(
    ("sql", "tables"),
    [
        ("SELECT users.id FROM users JOIN documents ON users.id = documents.owner_id", {"users", "documents"}),
        # a lazy load across secondary= arrives as a comma join
        (
            "SELECT tags.id, tags.name FROM tags, document_tag WHERE $1 = document_tag.document_id AND tags.id = document_tag.tag_id",
            {"tags", "document_tag"},
        ),
        ('SELECT a.x FROM public.a AS a, "chunks" c, users WHERE a.x = 1', {"a", "chunks", "users"}),
        ("UPDATE documents SET title=$1 WHERE documents.id = $2", {"documents"}),
        ("INSERT INTO tags (name) VALUES ($1) RETURNING tags.id", {"tags"}),
        ("SELECT count(*) AS count_1 FROM (SELECT users.id FROM users) AS anon_1", {"users"}),
    ],
)
def test_the_tables_a_statement_touches(sql, tables):
    assert Shape(sql).tables == frozenset(tables)
    assert all(Shape(sql).touches(table.upper()) for table in tables)
