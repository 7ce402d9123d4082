"""Classify captured SQL by shape, never by exact text (it varies across SQLAlchemy versions).

A shape is the statement with placeholders normalised to ``?``, IN-lists folded to ``IN (?)``
and whitespace collapsed; on top of it we read the kind, the tables, JOINs, IN-lists and, for an
UPDATE, the columns it sets. Good enough for the SQL SQLAlchemy generates; not a SQL parser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

_PLACEHOLDER = re.compile(r"%\(\w+\)s|%s|\$\d+|\?")
_IN_LIST = re.compile(r"\bIN\s*\((?:\s*\?(?:::\w+(?:\[\])?)?\s*,?)+\)", re.IGNORECASE)
_POSTCOMPILE = re.compile(r"\(?__\[POSTCOMPILE_\w+\]\)?")
_SPACE = re.compile(r"\s+")
_TABLE_AFTER = re.compile(r"\b(?:FROM|JOIN|INTO|UPDATE|TABLE)\s+((?:\"[^\"]+\"|\w+)(?:\.(?:\"[^\"]+\"|\w+))?)", re.IGNORECASE)
_FROM_LIST = re.compile(
    r"\bFROM\s+(.*?)(?=\b(?:WHERE|GROUP|ORDER|LIMIT|OFFSET|HAVING|FOR|RETURNING|UNION|JOIN|LEFT|RIGHT|INNER|FULL|CROSS|ON)\b|\)|;|$)",
    re.IGNORECASE | re.DOTALL,
)
_NAME = re.compile(r"\s*((?:\"[^\"]+\"|\w+)(?:\.(?:\"[^\"]+\"|\w+))?)")
_SET_CLAUSE = re.compile(r"\bSET\s+(.*?)(?:\bWHERE\b|\bRETURNING\b|\bFROM\b|$)", re.IGNORECASE | re.DOTALL)
_TRANSACTION = re.compile(r"^\s*(SAVEPOINT|RELEASE|ROLLBACK|BEGIN|COMMIT)\b", re.IGNORECASE)


def normalise(sql: str) -> str:
    """Collapse whitespace, placeholders and IN-lists: equal shapes mean "the same query"."""
    text = _POSTCOMPILE.sub("(?)", sql)
    text = _PLACEHOLDER.sub("?", text)
    text = _SPACE.sub(" ", text).strip()
    return _IN_LIST.sub("IN (?)", text)


@dataclass(frozen=True)
class Shape:
    """What a statement does, read off its text."""

    sql: str

    @cached_property
    def normal(self) -> str:
        return normalise(self.sql)

    @cached_property
    def kind(self) -> str:
        """``SELECT``, ``INSERT``, ``UPDATE``, ``DELETE``, ``DDL``, ``TRANSACTION`` or ``OTHER``."""
        head = self.normal.lstrip("( ").split(" ", 1)[0].upper()
        if _TRANSACTION.match(self.normal):
            return "TRANSACTION"
        if head == "WITH":
            body = self.normal.upper()
            for kind in ("INSERT", "UPDATE", "DELETE"):
                if re.search(rf"\)\s*{kind}\b", body):
                    return kind
            return "SELECT"
        if head in ("SELECT", "INSERT", "UPDATE", "DELETE"):
            return head
        if head in ("CREATE", "ALTER", "DROP", "TRUNCATE", "COMMENT"):
            return "DDL"
        return "OTHER"

    @cached_property
    def tables(self) -> frozenset[str]:
        """Lower-cased table names after FROM/JOIN/INTO/UPDATE (schema-qualified names keep the last part)."""
        found = [match.group(1) for match in _TABLE_AFTER.finditer(self.normal)]
        for listed in _FROM_LIST.finditer(self.normal):  # a comma join: FROM tags, document_tag WHERE ...
            for item in listed.group(1).split(",")[1:]:
                if (name := _NAME.match(item)) is not None:
                    found.append(name.group(1))
        names = {name.split(".")[-1].strip('"').lower() for name in found}
        return frozenset(name for name in names if name.upper() not in ("SELECT", "LATERAL"))

    @property
    def has_join(self) -> bool:
        return re.search(r"\bJOIN\b", self.normal, re.IGNORECASE) is not None

    @property
    def has_in_list(self) -> bool:
        return "IN (?)" in self.normal or re.search(r"=\s*ANY\s*\(", self.normal, re.IGNORECASE) is not None

    @property
    def has_subquery(self) -> bool:
        return re.search(r"\(\s*SELECT\b", self.normal, re.IGNORECASE) is not None

    def touches(self, table: str) -> bool:
        return table.lower() in self.tables

    @cached_property
    def set_columns(self) -> frozenset[str]:
        """For an UPDATE, the columns it assigns."""
        if self.kind != "UPDATE":
            return frozenset()
        match = _SET_CLAUSE.search(self.sql)
        if not match:
            return frozenset()
        columns = set()
        for assignment in _split_top_level(match.group(1)):
            left = assignment.split("=", 1)[0].strip()
            if left:
                columns.add(left.split(".")[-1].strip('"').lower())
        return frozenset(columns)

    @cached_property
    def order_by(self) -> tuple[str, ...]:
        """The outermost ORDER BY's terms (``documents.created_at DESC``); empty when there is none."""
        text = self.normal
        upper = text.upper()
        depth, start = 0, None
        for index, char in enumerate(text):
            if char == "(":
                depth += 1
            elif char == ")":
                depth -= 1
            elif depth == 0 and upper.startswith("ORDER BY ", index) and (index == 0 or text[index - 1] == " "):
                start = index + len("ORDER BY ")
        if start is None:
            return ()
        clause = re.split(r"\b(?:LIMIT|OFFSET|FETCH|FOR UPDATE|FOR SHARE)\b", text[start:], maxsplit=1, flags=re.IGNORECASE)[0]
        return tuple(term.strip() for term in _split_top_level(clause) if term.strip())


def _split_top_level(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def pretty(sql: str) -> str:
    """A one-statement display form: whitespace collapsed, long IN-lists folded."""
    text = _SPACE.sub(" ", sql).strip()
    return re.sub(r"IN \((?:%\(\w+\)s(?:::\w+)?, ){3,}%\(\w+\)s(?:::\w+)?\)", "IN (…)", text)
