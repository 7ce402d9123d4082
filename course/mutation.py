"""Mechanical mutants of a reference solution, made at the AST level (``course validate --mutate``).

Each operator changes one place of one file the learner edits, in a way a learner plausibly could:
drop a keyword argument (``unique=True``, ``ondelete=``, ``back_populates=``...), drop a method of
a chain (``.options(...)``, ``.order_by(...)``, ``.desc()``), drop a statement (``commit()``,
``refresh()``, ``close()``), ``commit()`` → ``flush()``, swap a comparison, change a literal, remove
a decorator, swap two arguments, make a ``Mapped[X | None]`` required. The grader must reject each
mutant (kill it), unless the mutant is *equivalent* — still correct — which ``exercise.toml`` says
under ``[equivalent]``, keyed by the mutant's id, with the reason.

Perturbations (:func:`perturbations`) are the other use: values a learner's code can produce that
a check must turn into a pass or a teaching failure, never a grader crash (a function returning
``None`` or a tuple, an attribute set to ``None``, a ``Date`` where a ``DateTime`` was expected, an
extra required column).
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from course.content import Exercise


@dataclass(frozen=True)
class Mutation:
    """One changed copy of one solution file."""

    file: str
    """The file's path inside the exercise folder, e.g. ``models.py``."""
    line: int
    operator: str
    detail: str
    """What changed, in code: ``unique=True in mapped_column(String(255), unique=True)``."""
    source: str
    """The whole mutated file."""

    @property
    def id(self) -> str:
        """Stable across runs (no line number): how ``[equivalent]`` in exercise.toml names it."""
        return f"{self.file}: {self.operator} {self.detail}"

    def __str__(self) -> str:
        return f"{self.file}:{self.line} {self.operator} {self.detail}"


CHAIN_METHODS = {"options", "order_by", "where", "filter", "filter_by", "desc", "unique", "join", "limit", "all",
                 "scalars", "returning", "values"}
"""Methods whose call is dropped from a chain (``stmt.options(x)`` → ``stmt``)."""
DROPPED_CALLS = {"commit", "refresh", "close", "flush", "add", "delete", "dispose", "rollback", "append", "remove",
                 "set_main_option", "create_table", "drop_table", "alter_column", "execute", "create_unique_constraint"}
"""Calls that are dropped when they stand alone as a statement."""
COMPARISONS = {ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq}


def _short(node: ast.AST, limit: int = 70) -> str:
    text = " ".join(ast.unparse(node).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _called(call: ast.Call) -> str | None:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None


def _docstring_nodes(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                found.add(id(first.value))
    return found


def _replace(tree: ast.AST, target: ast.AST, replacement: ast.AST) -> None:
    """Put ``replacement`` where ``target`` is in ``tree``."""
    for parent in ast.walk(tree):
        for field_name, value in ast.iter_fields(parent):
            if value is target:
                setattr(parent, field_name, replacement)
                return
            if isinstance(value, list) and any(item is target for item in value):
                value[[item is target for item in value].index(True)] = replacement
                return


Apply = Callable[[ast.AST, ast.Module], None]
"""Changes the twin of a node in a copy of the tree (it gets the twin and the copied tree)."""


def _sites(tree: ast.Module) -> Iterator[tuple[ast.AST, str, str, Apply]]:
    """(node, operator, detail, apply) for every place an operator applies."""
    docstrings = _docstring_nodes(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for index, keyword in enumerate(node.keywords):
                if keyword.arg is not None:
                    yield node, "drop-keyword", f"{keyword.arg}={_short(keyword.value, 40)} in {_short(node)}", \
                        (lambda twin, _, i=index: twin.keywords.pop(i))
            if isinstance(node.func, ast.Attribute) and node.func.attr in CHAIN_METHODS:
                yield node, "drop-method", f".{node.func.attr}(...) in {_short(node)}", \
                    (lambda twin, root: _replace(root, twin, twin.func.value))
            if isinstance(node.func, ast.Attribute) and node.func.attr == "commit":
                yield node, "commit-to-flush", _short(node), (lambda twin, _: setattr(twin.func, "attr", "flush"))
            if len(node.args) >= 2 and not any(isinstance(a, ast.Starred) for a in node.args[:2]) \
                    and ast.dump(node.args[0]) != ast.dump(node.args[1]):
                yield node, "swap-arguments", _short(node), \
                    (lambda twin, _: twin.args.__setitem__(slice(0, 2), [twin.args[1], twin.args[0]]))
        elif isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in COMPARISONS:
            replacement = COMPARISONS[type(node.ops[0])]
            yield node, "swap-comparison", f"{_short(node)} ({type(node.ops[0]).__name__} → {replacement.__name__})", \
                (lambda twin, _, r=replacement: twin.ops.__setitem__(0, r()))
        elif isinstance(node, ast.Constant) and id(node) not in docstrings:
            if isinstance(node.value, bool):
                yield node, "change-literal", f"{node.value} → {not node.value}", \
                    (lambda twin, _: setattr(twin, "value", not twin.value))
            elif isinstance(node.value, int):
                yield node, "change-literal", f"{node.value} → {node.value + 1}", \
                    (lambda twin, _: setattr(twin, "value", twin.value + 1))
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr) and _is_none(node.right):
            yield node, "drop-optional", _short(node), (lambda twin, root: _replace(root, twin, twin.left))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            for index, decorator in enumerate(node.decorator_list):
                yield node, "drop-decorator", f"@{_short(decorator, 50)} on {node.name}", \
                    (lambda twin, _, i=index: twin.decorator_list.pop(i))
        for block in ("body", "orelse", "finalbody"):
            statements = getattr(node, block, None)
            if not isinstance(statements, list):
                continue
            for index, statement in enumerate(statements):
                if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call) \
                        and _called(statement.value) in DROPPED_CALLS:
                    yield statement, "drop-statement", _short(statement), \
                        (lambda twin, root: _drop_statement(root, twin))


def _drop_statement(tree: ast.AST, statement: ast.stmt) -> None:
    for parent in ast.walk(tree):
        for block in ("body", "orelse", "finalbody"):
            statements = getattr(parent, block, None)
            if isinstance(statements, list) and any(item is statement for item in statements):
                statements[:] = [item for item in statements if item is not statement] or [ast.Pass()]
                return


def _is_none(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def mutations(file: str, source: str) -> list[Mutation]:
    """Every mutant of ``source`` (deduplicated by the resulting code), in a stable order."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    original = ast.unparse(tree)
    nodes = list(ast.walk(tree))
    found: dict[str, Mutation] = {}
    positions = {id(node): index for index, node in enumerate(nodes)}
    for node, operator, detail, apply in _sites(tree):
        twin_tree = copy.deepcopy(tree)
        twin = list(ast.walk(twin_tree))[positions[id(node)]]
        apply(twin, twin_tree)
        ast.fix_missing_locations(twin_tree)
        try:
            mutated = ast.unparse(twin_tree)
            compile(mutated, file, "exec")
        except (SyntaxError, ValueError, TypeError, AttributeError):
            continue
        if mutated != original and mutated not in found:
            found[mutated] = Mutation(file, getattr(node, "lineno", 0), operator, detail, mutated)
    return list(found.values())


def solution_files(exercise: Exercise) -> list[str]:
    """The Python files of the solution the learner edits (``alembic/versions/`` expanded)."""
    files = []
    for name in exercise.edit:
        path = exercise.solution_dir / name
        if path.is_dir():
            files += sorted(str(p.relative_to(exercise.solution_dir)) for p in path.glob("*.py"))
        elif name.endswith(".py") and path.is_file():
            files.append(name)
    return files


def exercise_mutations(exercise: Exercise, limit: int) -> list[Mutation]:
    """At most ``limit`` mutants of the exercise's solution, spread over operators and files
    (round robin), in a stable order: the same content always gives the same mutants."""
    pools: dict[tuple[str, str], list[Mutation]] = {}
    for file in solution_files(exercise):
        for mutation in mutations(file, (exercise.solution_dir / file).read_text()):
            pools.setdefault((mutation.operator, file), []).append(mutation)
    chosen: list[Mutation] = []
    queues = [list(pool) for _, pool in sorted(pools.items())]
    while queues and len(chosen) < limit:
        for queue in list(queues):
            if len(chosen) >= limit:
                break
            chosen.append(queue.pop(0))
            if not queue:
                queues.remove(queue)
    return chosen


def write_mutant(folder: Path, mutation: Mutation) -> None:
    """Overwrite the mutated file in a materialised copy of the solution."""
    (folder / mutation.file).write_text(mutation.source + "\n")
