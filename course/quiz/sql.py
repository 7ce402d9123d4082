"""Judging "predict the SQL" answers by meaning, with a real SQL parser (sqlglot).

Both the learner's SQL and what SQLAlchemy compiles are parsed as PostgreSQL and brought to one
canonical form before they are compared:

- columns are qualified with their table and table aliases are replaced by the table's name
  (``SELECT d.title FROM documents AS d`` = ``SELECT documents.title FROM documents``);
- ``SELECT *`` is expanded to the table's columns, so it matches an explicit list of all of them;
- ``INNER JOIN`` = ``JOIN`` and ``LEFT OUTER JOIN`` = ``LEFT JOIN``;
- the two sides of ``=`` / ``<>`` are ordered, ``5 < x`` becomes ``x > 5``, and the terms of an
  ``AND`` are ordered, so ``ON a.x = b.y`` = ``ON b.y = a.x``;
- labels of selected columns (``AS count_1``), casts of values (``::INTEGER``), case and spacing
  do not matter;
- a parameter placeholder of any style (``%(name)s``, ``%s``, ``$1``, ``?``, ``:name``) stands for
  whatever value the real SQL has there; a literal value must be the right one;
- a comma join with its condition in ``WHERE`` = ``JOIN ... ON`` (inner joins: the conditions go to
  ``WHERE`` and the tables are put in one order), and a double-quoted lower-case identifier
  (``"users"."email"``) = the bare one (Postgres folds unquoted names to lower case).

What Postgres would refuse is refused, even where sqlglot is lenient: ``==`` (Python's equality; SQL
has ``=``) and a call of a function Postgres does not have (``len(body)``: Python's ``len``, where
Postgres has ``length``) — checked against the function names of a real PostgreSQL
(``pg_functions.txt``).
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.tokens import TokenType

DIALECT = "postgres"
_VALUE = (exp.Literal, exp.Placeholder, exp.Parameter, exp.Null, exp.Boolean)
_WILDCARD = (exp.Placeholder, exp.Parameter)
_STATEMENTS = (exp.Query, exp.Insert, exp.Update, exp.Delete)
_FLIPPED = {exp.GT: exp.LT, exp.LT: exp.GT, exp.GTE: exp.LTE, exp.LTE: exp.GTE}


@dataclass
class SqlJudgement:
    """The verdict on one typed statement."""

    same: bool
    expected: str
    """The real SQL in canonical form (what the learner's is compared with)."""
    typed: str
    """The learner's SQL in canonical form, or as typed when it does not parse."""
    problem: str = ""
    """Why the typed SQL could not be compared (it does not parse), else empty."""


_SYNTAX_CALLS = {"coalesce", "nullif", "greatest", "least", "exists", "cast", "any", "all", "some", "row", "array"}
"""Written like calls, but SQL syntax rather than functions of ``pg_proc``."""
_NOT_A_CALL_AFTER = {TokenType.INTO, TokenType.TABLE, TokenType.DOT}
"""A name followed by ``(`` after these is a table (``INSERT INTO documents (title)``), not a call."""
_PYTHON_NAMES = {
    "len": "`len()` is Python; Postgres counts the characters of a text with `length()` (or `char_length()`)",
}


@functools.cache
def postgres_functions() -> frozenset[str]:
    """The function names of PostgreSQL (``pg_functions.txt``, read from a real server's ``pg_proc``)."""
    text = (Path(__file__).parent / "pg_functions.txt").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def postgres_refuses(sql: str) -> str:
    """Why Postgres would refuse ``sql`` for a mistake sqlglot lets through (``==``, a function
    Postgres does not have), or ``""``."""
    try:
        tokens = sqlglot.Dialect.get_or_raise(DIALECT).tokenize(sql)
    except SqlglotError:
        return ""  # the parser reports it
    for index, token in enumerate(tokens):
        if token.token_type == TokenType.EQ and token.text == "==":
            return "Postgres has no `==` operator: SQL compares with a single `=` (`==` is Python)"
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        previous = tokens[index - 1] if index else None
        if (
            token.token_type == TokenType.VAR
            and following is not None
            and following.token_type == TokenType.L_PAREN
            and (previous is None or previous.token_type not in _NOT_A_CALL_AFTER)
        ):
            name = token.text.lower()
            if name not in postgres_functions() and name not in _SYNTAX_CALLS:
                why = _PYTHON_NAMES.get(name, f"Postgres has no function `{token.text}()`")
                return f"{why} (Postgres: function {name}() does not exist)"
    return ""


def canonical(sql: str, schema: dict[str, dict[str, str]] | None = None) -> exp.Expr:
    """Parse ``sql`` (PostgreSQL) and rewrite it to the canonical form described above.

    Raises ``SqlglotError`` when it does not parse.
    """
    text = sql.strip().rstrip(";").strip()
    if not text:
        raise SqlglotError("nothing was typed")
    tree = sqlglot.parse_one(text, read=DIALECT)
    if not isinstance(tree, _STATEMENTS):  # e.g. sqlglot's fallback for what it cannot parse
        raise SqlglotError(f"{text.split()[0]!r} does not start a SELECT, INSERT, UPDATE or DELETE")
    for identifier in tree.find_all(exp.Identifier):  # "users" is users; "Users" is another name
        if identifier.quoted and identifier.name == identifier.name.lower():
            identifier.set("quoted", False)
    if isinstance(tree, exp.Query) and schema:
        try:
            # qualify only reads the schema, though it is annotated as the invariant dict[str, object]
            tree = qualify(
                tree,
                schema=cast("dict[str, object]", schema),
                dialect=DIALECT,
                quote_identifiers=False,
                validate_qualify_columns=False,
                identify=False,
            )
        except SqlglotError:
            pass  # unknown tables or columns: compare what can be compared
    for parameter in list(tree.find_all(exp.Parameter)):  # `$1`: a placeholder like the others
        parameter.replace(exp.Placeholder())
    _unalias_tables(tree)
    _qualify_single_table(tree)
    for node in list(tree.find_all(exp.Cast)):
        if isinstance(node.this, _VALUE):
            node.replace(node.this)
    for select in tree.find_all(exp.Select):
        select.set("expressions", [e.this if isinstance(e, exp.Alias) else e for e in select.expressions])
    for join in tree.find_all(exp.Join):
        if join.args.get("kind") == "INNER" or (join.args.get("kind") == "OUTER" and join.args.get("side")):
            join.set("kind", None)
    return _order_terms(tree)


def _joins_in_where(tree: exp.Expr) -> exp.Expr:
    """A copy of a canonical tree with its inner joins written as comma joins (see :func:`_comma_joins`):
    the form two statements are compared in, whichever way each wrote its joins."""
    copy = tree.copy()
    for select in list(copy.find_all(exp.Select)):
        _comma_joins(select)
    return _order_terms(copy)


def _comma_joined(tree: exp.Expr) -> bool:
    """Whether the statement joins with commas (a join without ON or USING)."""
    return any(
        not join.args.get("on") and not join.args.get("using") and not join.args.get("kind") for join in tree.find_all(exp.Join)
    )


def _comma_joins(select: exp.Select) -> None:
    """Inner joins only: each ON condition moves to WHERE and the tables are sorted, so
    ``FROM a JOIN b ON a.x = b.y`` = ``FROM b, a WHERE b.y = a.x``."""
    joins = select.args.get("joins") or []
    source = select.args.get("from_")
    if not joins or source is None or not isinstance(source.this, exp.Table):
        return
    if any(j.args.get("kind") or j.args.get("side") or j.args.get("using") or not isinstance(j.this, exp.Table) for j in joins):
        return  # outer joins, USING, subqueries: compared as written
    conditions = [j.args["on"] for j in joins if j.args.get("on") is not None]
    tables = sorted([source.this, *(j.this for j in joins)], key=lambda t: (t.name.lower(), t.alias_or_name.lower()))
    where = select.args.get("where")
    if where is not None:
        conditions.append(where.this)
    source.set("this", tables[0])
    select.set("joins", [exp.Join(this=table) for table in tables[1:]])
    if conditions:
        select.set("where", exp.Where(this=exp.and_(*conditions, copy=False)))


def _tables(tree: exp.Expr) -> list[exp.Table]:
    return [t for t in tree.find_all(exp.Table) if t.name]


def _unalias_tables(tree: exp.Expr) -> None:
    tables = _tables(tree)
    names = [t.name.lower() for t in tables]
    if len(set(names)) != len(names):
        return  # a table used twice needs its aliases
    aliases = {t.alias.lower(): t.name for t in tables if t.alias}
    for table in tables:
        if table.alias:
            table.set("alias", None)
    for column in tree.find_all(exp.Column):
        if column.table and column.table.lower() in aliases:
            column.set("table", exp.to_identifier(aliases[column.table.lower()]))


def _qualify_single_table(tree: exp.Expr) -> None:
    tables = {t.name.lower() for t in _tables(tree)}
    if len(tables) != 1:
        return
    (name,) = tables
    for column in tree.find_all(exp.Column):
        if not column.table and not isinstance(column.parent, exp.Schema) and not _is_assignment(column.parent):
            column.set("table", exp.to_identifier(name))
    for column in tree.find_all(exp.Column):
        if column.table:
            column.set("table", exp.to_identifier(column.table.lower()))


def _is_assignment(node: exp.Expr | None) -> bool:
    """``title = 'x'`` in an UPDATE's SET list: an assignment, not a comparison."""
    return isinstance(node, exp.EQ) and isinstance(node.parent, exp.Update) and node.arg_key == "expressions"


def _sort_key(node: exp.Expr) -> tuple[bool, str]:
    return isinstance(node, _VALUE), _masked(node)  # values go to the right: `x = 5`, not `5 = x`


def _masked(node: exp.Expr) -> str:
    """The SQL of ``node`` with every value hidden: a sort key that a placeholder cannot change."""
    copy = node.copy()
    for value in list(copy.find_all(*_VALUE)):
        if value is copy:
            return "?"
        value.replace(exp.Placeholder())
    return copy.sql(dialect=DIALECT, normalize=True)


def _order_terms(tree: exp.Expr) -> exp.Expr:
    def comparisons(node: exp.Expr) -> exp.Expr:
        if (
            isinstance(node, exp.Binary)
            and type(node) in _FLIPPED
            and isinstance(node.this, _VALUE)
            and not isinstance(node.expression, _VALUE)
        ):
            return _FLIPPED[type(node)](this=node.expression, expression=node.this)
        if isinstance(node, exp.EQ | exp.NEQ) and not _is_assignment(node):
            left, right = sorted((node.this, node.expression), key=_sort_key)
            return type(node)(this=left, expression=right)
        return node

    def conjunctions(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.And) and not isinstance(node.parent, exp.And):
            return exp.and_(*sorted(node.flatten(), key=_masked), copy=False)
        return node

    tree = tree.transform(comparisons, copy=False)  # first the terms, then their order
    return tree.transform(conjunctions, copy=False)


def _values_agree(expected: exp.Expr, typed: exp.Expr) -> bool:
    want = list(expected.find_all(*_VALUE))
    got = list(typed.find_all(*_VALUE))
    if len(want) != len(got):
        return False
    for real, mine in zip(want, got, strict=True):
        if isinstance(mine, _WILDCARD) or isinstance(real, _WILDCARD):
            continue
        if mine.sql(dialect=DIALECT) != real.sql(dialect=DIALECT):
            return False
    return True


def render(tree: exp.Expr) -> str:
    return tree.sql(dialect=DIALECT, normalize=True, pretty=False)


def judge(expected_sql: str, typed_sql: str, schema: dict[str, dict[str, str]] | None = None) -> SqlJudgement:
    """Compare ``typed_sql`` with ``expected_sql`` by meaning (see the module docstring)."""
    frozen = tuple((table, tuple(columns.items())) for table, columns in (schema or {}).items())
    return _judge(expected_sql, typed_sql, frozen)


@functools.lru_cache(maxsize=256)
def _judge(expected_sql: str, typed_sql: str, frozen: tuple) -> SqlJudgement:
    schema = {table: dict(columns) for table, columns in frozen}
    want = canonical(expected_sql, schema)
    expected = render(want)
    refused = postgres_refuses(typed_sql)
    if refused:
        return SqlJudgement(False, expected, typed_sql.strip(), f"Postgres would refuse this: {refused}")
    try:
        got = canonical(typed_sql, schema)
    except SqlglotError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else "it does not parse"
        return SqlJudgement(False, expected, typed_sql.strip(), f"this is not SQL Postgres would accept: {first}")
    typed = render(got)
    want_flat, got_flat = _joins_in_where(want), _joins_in_where(got)
    same = _masked(want_flat) == _masked(got_flat) and _values_agree(want_flat, got_flat)
    if _comma_joined(got):  # shown side by side in the learner's style, so only real differences stand out
        expected, typed = render(want_flat), render(got_flat)
    return SqlJudgement(same, expected, typed)


_TOKEN = re.compile(r"'(?:[^']|'')*'|%\(\w+\)s|%s|\$\d+|:\w+|\?|\w+(?:\.\w+)*|>=|<=|<>|!=|::|\|\||[^\w\s]")
_PLACEHOLDER = re.compile(r"%\(\w+\)s|%s|\$\d+|:\w+|\?")
_LITERAL = re.compile(r"'(?:[^']|'')*'|\d+(?:\.\d+)?")


def tokens(sql: str) -> list[str]:
    return _TOKEN.findall(sql)


def _key(token: str) -> str:
    return "<value>" if _PLACEHOLDER.fullmatch(token) or _LITERAL.fullmatch(token) else token.lower()


def _runs(want: list[str], got: list[str]):
    """Aligned runs of tokens; values line up with values (checked one by one afterwards)."""
    matcher = difflib.SequenceMatcher(a=[_key(t) for t in want], b=[_key(t) for t in got], autojunk=False)
    for op, a1, a2, b1, b2 in matcher.get_opcodes():
        if op != "equal":
            yield False, want[a1:a2], got[b1:b2]
            continue
        for real, mine in zip(want[a1:a2], got[b1:b2], strict=True):
            agree = (
                real == mine or bool(_PLACEHOLDER.fullmatch(mine) or _PLACEHOLDER.fullmatch(real)) or real.lower() == mine.lower()
            )
            yield agree, [real], [mine]


def highlighted_difference(expected: str, typed: str) -> tuple[list[tuple[str, bool]], list[tuple[str, bool]]]:
    """Both statements cut into ``(text, differs)`` runs that add up to the whole statement:
    what to highlight on each side."""
    want, got = list(_TOKEN.finditer(expected)), list(_TOKEN.finditer(typed))
    marks_left: list[bool] = []
    marks_right: list[bool] = []
    for agree, real, mine in _runs([m.group() for m in want], [m.group() for m in got]):
        marks_left += [not agree] * len(real)
        marks_right += [not agree] * len(mine)
    return _cut(expected, want, marks_left), _cut(typed, got, marks_right)


def _cut(sql: str, matches: list[re.Match], marks: list[bool]) -> list[tuple[str, bool]]:
    runs: list[tuple[str, bool]] = []
    position = 0
    for match, differs in zip(matches, marks, strict=True):
        if match.start() > position:
            runs.append((sql[position : match.start()], False))
        runs.append((match.group(), differs))
        position = match.end()
    if position < len(sql):
        runs.append((sql[position:], False))
    merged: list[tuple[str, bool]] = []
    for text, differs in runs:  # neighbours with the same mark become one run
        if merged and merged[-1][1] == differs:
            merged[-1] = (merged[-1][0] + text, differs)
        else:
            merged.append((text, differs))
    return merged


def differences(expected: str, typed: str) -> list[str]:
    """The differences in words, one note each, for a plain listing."""
    notes = []
    for agree, real, mine in _runs(tokens(expected), tokens(typed)):
        if agree:
            continue
        if real and mine:
            notes.append(f"the real SQL has `{' '.join(real)}` where yours has `{' '.join(mine)}`")
        elif real:
            notes.append(f"missing from yours: `{' '.join(real)}`")
        else:
            notes.append(f"not in the real SQL: `{' '.join(mine)}`")
    return notes
