"""Source inspection, for the few checks whose point is the style itself (docs/authoring.md).

Used sparingly: 2.0 vs 1.x declarations, ``select()`` vs ``session.query``, no hard-coded URL.
Everything else is graded by behaviour on a real database.
"""

from __future__ import annotations

import ast
import re

_URL = re.compile(r"^[a-z][a-z0-9]*(\+[a-z0-9]+)?://", re.IGNORECASE)
_DB_SCHEMES = ("postgres", "postgresql", "sqlite", "mysql", "mariadb", "oracle", "mssql")


def url_literals(source: str) -> list[tuple[int, str]]:
    """String constants that look like database URLs, with their line numbers."""
    found: list[tuple[int, str]] = []
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return found
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and _URL.match(node.value):
            if node.value.split(":", 1)[0].split("+", 1)[0].lower() in _DB_SCHEMES:
                found.append((node.lineno, node.value))
    return found


def calls(source: str, name: str) -> list[int]:
    """Lines where a function or method called ``name`` is called (``x.name(...)`` or ``name(...)``)."""
    return sorted(node.lineno for node in _nodes(source) if isinstance(node, ast.Call) and _names(node.func, name))


def uncalled(source: str, name: str) -> list[int]:
    """Lines where ``x.name`` (or ``name``) stands alone as a statement, never called: the
    parentheses were forgotten (``session.close`` instead of ``session.close()``)."""
    return sorted(node.lineno for node in _nodes(source) if isinstance(node, ast.Expr) and _names(node.value, name))


def called_name(call: ast.Call) -> str | None:
    """What ``call`` calls, by name: ``mapped_column`` for ``mapped_column(...)`` and ``sa.mapped_column(...)``."""
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def _nodes(source: str) -> list[ast.AST]:
    """Every node of ``source``; none when it does not parse (its checks report that)."""
    try:
        return list(ast.walk(ast.parse(source)))
    except SyntaxError:
        return []


def _names(node: ast.AST, name: str) -> bool:
    """``node`` is ``name`` or ``x.name``."""
    return (isinstance(node, ast.Attribute) and node.attr == name) or (isinstance(node, ast.Name) and node.id == name)
