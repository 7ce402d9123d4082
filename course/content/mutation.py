"""Mechanical mutants of a reference solution, made at the AST level (``course validate --mutate``).

Each operator changes one place of what the learner writes (the solution's lines that the starter
does not have), in a way a learner plausibly could:
drop a keyword argument (``unique=True``, ``ondelete=``, ``back_populates=``...), drop a method of
a chain (``.options(...)``, ``.order_by(...)``, ``.desc()``), drop a statement (``commit()``,
``refresh()``, ``close()``), ``commit()`` → ``flush()``, swap a comparison, change a literal (a
number, a flag, an option string such as ``lazy="raise"`` or ``ondelete="CASCADE"``), swap a name
for the one it is confused with (``selectinload`` / ``joinedload``, ``length`` / ``octet_length``,
``scalar_one_or_none`` / ``scalar_one``), remove a decorator, swap two arguments, make a
``Mapped[X | None]`` required. A second tier (:data:`EXTENDED`, used after the first fills no more
of the limit) mutates the schema and the queries more finely: a column's type (``Mapped[str]`` →
``Mapped[int]``, ``String`` → ``Text``), its nullability (``Mapped[X]`` → ``Mapped[X | None]``), a
server default made a Python one, a constraint or index dropped (from ``__table_args__``, an
``Index(...)`` statement, a positional ``ForeignKey``), a function unwrapped (``func.lower(email)``
→ ``email``), one condition of a ``where(a, b)`` dropped, and more query and loader names swapped
(``and_`` / ``or_``, ``is_`` / ``is_not``, ``lower`` / ``upper``, ``contains_eager`` / ``joinedload``). The grader must reject each mutant (kill it), unless the mutant is
*equivalent* — still correct — which ``exercise.toml`` says under ``[equivalent]``, keyed by the
mutant's id, with the reason. (mutmut's operators inspired these; mutmut itself mutates a package
in place under its own test runner, which is not the job of grading a copied solution.)

Perturbations (:func:`perturbations`) are the other use: values a learner's code can produce that
a check must turn into a pass or a teaching failure, never a grader crash (a function returning
``None`` or a tuple, an attribute set to ``None``, a ``Date`` where a ``DateTime`` was expected, an
extra required column).
"""

from __future__ import annotations

import ast
import copy
import difflib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from course.content.model import Exercise


@dataclass(frozen=True)
class Mutation:
    """One changed copy of one solution file."""

    file: str
    """The file's path inside the exercise folder, e.g. ``models.py``."""
    line: int
    operator: str
    detail: str
    """What changed, in code: ``unique=True in mapped_column(String(255), unique=True)``; ``#2``
    and so on when the same change applies to identical code in several places."""
    source: str
    """The whole mutated file."""

    @property
    def id(self) -> str:
        """Stable across runs (no line number): how ``[equivalent]`` in exercise.toml names it."""
        return f"{self.file}: {self.operator} {self.detail}"

    def __str__(self) -> str:
        return f"{self.file}:{self.line} {self.operator} {self.detail}"


CHAIN_METHODS = {
    "options",
    "order_by",
    "where",
    "filter",
    "filter_by",
    "desc",
    "unique",
    "join",
    "limit",
    "all",
    "scalars",
    "returning",
    "values",
}
"""Methods whose call is dropped from a chain (``stmt.options(x)`` → ``stmt``)."""
DROPPED_CALLS = {
    "commit",
    "refresh",
    "close",
    "flush",
    "add",
    "delete",
    "dispose",
    "rollback",
    "append",
    "remove",
    "set_main_option",
    "create_table",
    "drop_table",
    "alter_column",
    "execute",
    "create_unique_constraint",
}
"""Calls that are dropped when they stand alone as a statement."""
RENAMES = {
    "selectinload": "joinedload",
    "joinedload": "selectinload",
    "subqueryload": "selectinload",
    "scalar_one_or_none": "scalar_one",
    "first": "one",
    "desc": "asc",
    "asc": "desc",
    "length": "octet_length",
    "char_length": "octet_length",
}
"""A name swapped for its plausible confusion (``selectinload`` where ``joinedload`` belongs...)."""
KEYWORD_RENAMES = {"back_populates": "backref"}
"""A keyword argument swapped for its look-alike."""
STRING_SWAPS = {
    "raise": "select",
    "raise_on_sql": "select",
    "selectin": "select",
    "CASCADE": "SET NULL",
    "cascade": "set null",
    "all, delete-orphan": "all",
    "save-update, merge, delete, delete-orphan": "save-update, merge",
}
"""Option strings swapped for a neighbouring value (``lazy="raise"`` → ``"select"``, ``ondelete``...)."""
EXTENDED_CHAIN_METHODS = {"offset", "group_by", "having", "distinct", "outerjoin", "with_for_update", "execution_options"}
"""More chain methods dropped, in the second tier."""
EXTENDED_RENAMES = {
    "is_": "is_not",
    "is_not": "is_",
    "in_": "not_in",
    "not_in": "in_",
    "and_": "or_",
    "or_": "and_",
    "outerjoin": "join",
    "max": "min",
    "min": "max",
    "lower": "upper",
    "upper": "lower",
    "contains_eager": "joinedload",
    "raiseload": "lazyload",
    "immediateload": "selectinload",
    "one_or_none": "one",
}
"""Query and loader names swapped for a plausible confusion, in the second tier."""
EXTENDED_STRING_SWAPS = {
    "joined": "select",
    "subquery": "select",
    "dynamic": "select",
    "write_only": "select",
    "RESTRICT": "CASCADE",
}
SQL_TYPES = {
    "String": "Text",
    "Text": "String",
    "DateTime": "Date",
    "Date": "DateTime",
    "Integer": "BigInteger",
    "BigInteger": "Integer",
    "Numeric": "Float",
    "Float": "Numeric",
    "Boolean": "Integer",
}
"""A column's SQL type swapped for a neighbour (``String`` → ``Text`` drops a length...)."""
PYTHON_TYPES = {
    "str": "int",
    "int": "str",
    "bool": "int",
    "float": "int",
    "datetime": "date",
    "date": "datetime",
    "Decimal": "float",
}
"""The type inside ``Mapped[...]`` swapped (``Mapped[str]`` → ``Mapped[int]``)."""
CONSTRAINTS = {"Index", "UniqueConstraint", "CheckConstraint", "PrimaryKeyConstraint", "ForeignKeyConstraint"}
"""Constraint and index constructors: dropped from ``__table_args__`` or as a statement."""
COLUMN_CALLS = {"mapped_column", "Column"}
"""Calls whose positional arguments (a type, a ``ForeignKey``) are dropped one at a time."""
CONDITION_CALLS = {"where", "filter", "having", "and_", "or_"}
"""Calls whose conditions are dropped one at a time when they have several."""
SQL_FUNCTIONS = {"lower", "upper", "coalesce", "date", "date_trunc", "trim", "abs"}
"""``func.X(arg)`` calls unwrapped to ``arg``."""

COMPARISONS = {ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq}


def _short(node: ast.AST, limit: int = 100) -> str:
    text = " ".join(ast.unparse(node).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


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


def _sites(tree: ast.Module) -> Iterator[tuple]:
    """(node, operator, detail, apply[, focus]) for every place an operator applies; ``focus`` is the
    part that changes when it is not the whole node (a keyword of a call)."""
    docstrings = _docstring_nodes(tree)
    parents = {id(child): parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}

    def context(node: ast.AST) -> str:
        """The call or statement around ``node``, to say where a literal is."""
        parent = parents.get(id(node))
        while parent is not None and not isinstance(parent, ast.Call | ast.stmt):
            parent = parents.get(id(parent))
        return f" in {_short(parent)}" if parent is not None else ""

    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for index, keyword in enumerate(node.keywords):
                if keyword.arg in KEYWORD_RENAMES:
                    yield (
                        node,
                        "swap-name",
                        f"{keyword.arg}= -> {KEYWORD_RENAMES[keyword.arg]}= in {_short(node)}",
                        (lambda twin, _, i=index: setattr(twin.keywords[i], "arg", KEYWORD_RENAMES[twin.keywords[i].arg])),
                        keyword,
                    )
                if keyword.arg is not None:
                    yield (
                        node,
                        "drop-keyword",
                        f"{keyword.arg}={_short(keyword.value, 40)} in {_short(node)}",
                        (lambda twin, _, i=index: twin.keywords.pop(i)),
                        keyword,
                    )
            if isinstance(node.func, ast.Attribute) and node.func.attr in CHAIN_METHODS:
                yield (
                    node,
                    "drop-method",
                    f".{node.func.attr}(...) in {_short(node)}",
                    (lambda twin, root: _replace(root, twin, twin.func.value)),
                )
            if isinstance(node.func, ast.Attribute) and node.func.attr == "commit":
                yield node, "commit-to-flush", _short(node), (lambda twin, _: setattr(twin.func, "attr", "flush"))
            if (
                len(node.args) >= 2
                and not any(isinstance(a, ast.Starred) for a in node.args[:2])
                and ast.dump(node.args[0]) != ast.dump(node.args[1])
            ):
                yield (
                    node,
                    "swap-arguments",
                    _short(node),
                    (lambda twin, _: twin.args.__setitem__(slice(0, 2), [twin.args[1], twin.args[0]])),
                )
        elif isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in COMPARISONS:
            replacement = COMPARISONS[type(node.ops[0])]
            yield (
                node,
                "swap-comparison",
                f"{_short(node)} ({type(node.ops[0]).__name__} -> {replacement.__name__})",
                (lambda twin, _, r=replacement: twin.ops.__setitem__(0, r())),
            )
        elif isinstance(node, ast.Attribute) and node.attr in RENAMES:
            yield (
                node,
                "swap-name",
                f".{node.attr} -> .{RENAMES[node.attr]}{context(node)}",
                (lambda twin, _: setattr(twin, "attr", RENAMES[twin.attr])),
            )
        elif (
            isinstance(node, ast.Name)
            and node.id in RENAMES
            and isinstance(call := parents.get(id(node)), ast.Call)
            and call.func is node
        ):
            yield (
                node,
                "swap-name",
                f"{node.id} -> {RENAMES[node.id]}{context(node)}",
                (lambda twin, root: _rename_call(root, twin)),
            )
        elif isinstance(node, ast.Constant) and id(node) not in docstrings:
            if isinstance(node.value, str) and node.value in STRING_SWAPS:
                yield (
                    node,
                    "change-literal",
                    f"{node.value!r} -> {STRING_SWAPS[node.value]!r}{context(node)}",
                    (lambda twin, _: setattr(twin, "value", STRING_SWAPS[twin.value])),
                )
            if isinstance(node.value, bool):
                yield (
                    node,
                    "change-literal",
                    f"{node.value} -> {not node.value}{context(node)}",
                    (lambda twin, _: setattr(twin, "value", not twin.value)),
                )
            elif isinstance(node.value, int):
                yield (
                    node,
                    "change-literal",
                    f"{node.value} -> {node.value + 1}{context(node)}",
                    (lambda twin, _: setattr(twin, "value", twin.value + 1)),
                )
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr) and _is_none(node.right):
            yield node, "drop-optional", _short(node), (lambda twin, root: _replace(root, twin, twin.left))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            for index, decorator in enumerate(node.decorator_list):
                yield (
                    node,
                    "drop-decorator",
                    f"@{_short(decorator, 50)} on {node.name}",
                    (lambda twin, _, i=index: twin.decorator_list.pop(i)),
                )
        for block in ("body", "orelse", "finalbody"):
            statements = getattr(node, block, None)
            if not isinstance(statements, list):
                continue
            for statement in statements:
                if (
                    isinstance(statement, ast.Expr)
                    and isinstance(statement.value, ast.Call)
                    and _called(statement.value) in DROPPED_CALLS
                ):
                    yield statement, "drop-statement", _short(statement), (lambda twin, root: _drop_statement(root, twin))


def _extended_sites(tree: ast.Module) -> Iterator[tuple]:
    """The second tier: types, nullability, defaults, constraints, conditions, query and loader names."""
    parents = {id(child): parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for statement in node.body:
                inner = _mapped(statement.annotation) if isinstance(statement, ast.AnnAssign) else None
                if isinstance(statement, ast.AnnAssign) and inner is not None:
                    primary = isinstance(statement.value, ast.Call) and any(
                        k.arg == "primary_key" and isinstance(k.value, ast.Constant) and k.value.value
                        for k in statement.value.keywords
                    )
                    plain = isinstance(inner, ast.Name | ast.Attribute) or (
                        isinstance(inner, ast.Subscript) and not _is_name(inner.value, "list", "set", "dict", "Optional")
                    )
                    if plain and not primary:
                        yield (
                            statement,
                            "make-nullable",
                            f"{_short(statement.annotation)} -> Mapped[{_short(inner)} | None] on {node.name}",
                            (lambda twin, _: _make_optional(twin)),
                            statement.annotation,
                        )
                if (
                    isinstance(statement, ast.Assign)
                    and any(_is_name(t, "__table_args__") for t in statement.targets)
                    and isinstance(statement.value, ast.Tuple)
                ):
                    for index, element in enumerate(statement.value.elts):
                        yield (
                            statement,
                            "drop-constraint",
                            f"{_short(element, 60)} from {node.name}.__table_args__",
                            (lambda twin, _, i=index: twin.value.elts.pop(i)),
                            element,
                        )
        elif isinstance(node, ast.Subscript) and _is_name(node.value, "Mapped") and not _typed_elsewhere(parents.get(id(node))):
            for name in ast.walk(node.slice):
                if isinstance(name, ast.Name) and name.id in PYTHON_TYPES:
                    yield (
                        name,
                        "swap-type",
                        f"Mapped[{name.id}] -> Mapped[{PYTHON_TYPES[name.id]}] in {_short(node)}",
                        (lambda twin, root: _swap_name(root, twin, PYTHON_TYPES)),
                    )
        elif isinstance(node, ast.Name) and node.id in SQL_TYPES and isinstance(parents.get(id(node)), ast.Call):
            call = parents[id(node)]
            yield (
                node,
                "swap-type",
                f"{node.id} -> {SQL_TYPES[node.id]} in {_short(call)}",
                (lambda twin, root: _swap_name(root, twin, SQL_TYPES)),
            )
        elif isinstance(node, ast.Call):
            called = _called(node)
            for index, keyword in enumerate(node.keywords):
                if keyword.arg == "server_default":
                    yield (
                        node,
                        "python-default",
                        f"server_default= -> default= in {_short(node)}",
                        (lambda twin, _, i=index: setattr(twin.keywords[i], "arg", "default")),
                        keyword,
                    )
            if called in COLUMN_CALLS:
                for index, argument in enumerate(node.args):
                    yield (
                        node,
                        "drop-argument",
                        f"{_short(argument, 50)} in {_short(node)}",
                        (lambda twin, _, i=index: twin.args.pop(i)),
                        argument,
                    )
            if called in CONDITION_CALLS and len(node.args) >= 2:
                for index, argument in enumerate(node.args):
                    yield (
                        node,
                        "drop-condition",
                        f"{_short(argument, 50)} in {_short(node)}",
                        (lambda twin, _, i=index: twin.args.pop(i)),
                        argument,
                    )
            if (
                isinstance(node.func, ast.Attribute)
                and _is_name(node.func.value, "func")
                and node.func.attr in SQL_FUNCTIONS
                and len(node.args) == 1
            ):
                yield (
                    node,
                    "drop-function",
                    f"{_short(node)} -> {_short(node.args[0])}",
                    (lambda twin, root: _replace(root, twin, twin.args[0])),
                )
            if isinstance(node.func, ast.Attribute) and node.func.attr in EXTENDED_CHAIN_METHODS:
                yield (
                    node,
                    "drop-method",
                    f".{node.func.attr}(...) in {_short(node)}",
                    (lambda twin, root: _replace(root, twin, twin.func.value)),
                )
        elif isinstance(node, ast.Attribute) and node.attr in EXTENDED_RENAMES:
            yield (
                node,
                "swap-name",
                f".{node.attr} -> .{EXTENDED_RENAMES[node.attr]} in {_short(parents.get(id(node)) or node)}",
                (lambda twin, _: setattr(twin, "attr", EXTENDED_RENAMES[twin.attr])),
            )
        elif (
            isinstance(node, ast.Name)
            and node.id in EXTENDED_RENAMES
            and isinstance(caller := parents.get(id(node)), ast.Call)
            and caller.func is node
        ):
            yield (
                node,
                "swap-name",
                f"{node.id} -> {EXTENDED_RENAMES[node.id]} in {_short(caller)}",
                (lambda twin, root: _swap_name(root, twin, EXTENDED_RENAMES)),
            )
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in EXTENDED_STRING_SWAPS:
            yield (
                node,
                "change-literal",
                f"{node.value!r} -> {EXTENDED_STRING_SWAPS[node.value]!r}",
                (lambda twin, _: setattr(twin, "value", EXTENDED_STRING_SWAPS[twin.value])),
            )
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef):
            for statement in node.body:
                if (
                    isinstance(statement, ast.Expr)
                    and isinstance(statement.value, ast.Call)
                    and _called(statement.value) in CONSTRAINTS
                ):
                    yield statement, "drop-constraint", _short(statement), (lambda twin, root: _drop_statement(root, twin))


def _typed_elsewhere(statement: ast.AST | None) -> bool:
    """Whether the column's SQL type comes from ``mapped_column(Type)`` or ``mapped_column(ForeignKey(...))``
    rather than from its ``Mapped[...]`` annotation (which is then only a type hint)."""
    value = statement.value if isinstance(statement, ast.AnnAssign) else None
    return isinstance(value, ast.Call) and _called(value) in COLUMN_CALLS and bool(value.args)


def _is_name(node: ast.AST, *names: str) -> bool:
    return isinstance(node, ast.Name) and node.id in names


def _mapped(annotation: ast.AST) -> ast.AST | None:
    """``X`` of ``Mapped[X]`` (``None`` for other annotations, and for ``Mapped[X | None]``)."""
    if not (isinstance(annotation, ast.Subscript) and _is_name(annotation.value, "Mapped")):
        return None
    inner = annotation.slice
    if isinstance(inner, ast.BinOp) and isinstance(inner.op, ast.BitOr) and (_is_none(inner.right) or _is_none(inner.left)):
        return None
    if isinstance(inner, ast.Constant):  # Mapped["Document"]: a relationship
        return None
    return inner


def _make_optional(statement: ast.AST) -> None:
    annotation = cast(ast.AnnAssign, statement).annotation
    assert isinstance(annotation, ast.Subscript)
    annotation.slice = ast.BinOp(annotation.slice, ast.BitOr(), ast.Constant(None))


def _swap_name(tree: ast.Module, name: ast.Name, table: dict[str, str]) -> None:
    """Use the swapped name instead, importing it next to the original where that is imported."""
    new = table[name.id]
    defined = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names}
    if new not in defined:
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and name.id in [alias.name for alias in node.names]:
                node.names.append(ast.alias(new))
                break
    name.id = new


def _rename_call(tree: ast.Module, name: ast.Name) -> None:
    """Call the swapped name instead, importing it next to the original where that is imported."""
    new = RENAMES[name.id]
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        names = [alias.name for alias in node.names]
        if name.id in names and new not in names:
            node.names.append(ast.alias(new))
    name.id = new


def _drop_statement(tree: ast.AST, statement: ast.stmt) -> None:
    for parent in ast.walk(tree):
        for block in ("body", "orelse", "finalbody"):
            statements = getattr(parent, block, None)
            if isinstance(statements, list) and any(item is statement for item in statements):
                statements[:] = [item for item in statements if item is not statement] or [ast.Pass()]
                return


def _is_none(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def mutations(file: str, source: str, lines: set[int] | None = None, *, extended: bool = False) -> list[Mutation]:
    """Every mutant of ``source`` (deduplicated by the resulting code), in a stable order; with
    ``lines``, only those that change something on one of these lines. ``extended``: the second
    tier's operators (types, nullability, defaults, constraints, conditions) instead of the first's."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    original = ast.unparse(tree)
    nodes = list(ast.walk(tree))
    found: dict[str, Mutation] = {}
    positions = {id(node): index for index, node in enumerate(nodes)}
    for node, operator, detail, apply, *focus in _extended_sites(tree) if extended else _sites(tree):
        place = focus[0] if focus else node
        start = getattr(place, "lineno", 0)
        if lines is not None and not lines.intersection(range(start, (getattr(place, "end_lineno", None) or start) + 1)):
            continue
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
            same = sum(1 for m in found.values() if (m.operator, m.detail.split(" #")[0]) == (operator, detail))
            found[mutated] = Mutation(file, start, operator, detail + (f" #{same + 1}" if same else ""), mutated)
    return list(found.values())


def solution_files(exercise: Exercise, provided: bool = False) -> list[str]:
    """The Python files of the solution the learner edits (``alembic/versions/`` expanded); with
    ``provided``, the provided ones too (a learner can change those as well)."""
    files = []
    for name in exercise.edit + (exercise.provided if provided else []):
        path = exercise.solution_dir / name
        if path.is_dir():
            files += sorted(p.relative_to(exercise.solution_dir).as_posix() for p in path.glob("*.py"))
        elif name.endswith(".py") and path.is_file():
            files.append(name)
    return files


def written_lines(exercise: Exercise, file: str) -> set[int] | None:
    """Lines of the solution's ``file`` that are not in the starter: what the learner writes
    (``None``, every line, when the starter has no such file)."""
    starter = exercise.starter_dir / file
    if not starter.is_file():
        return None
    solution = (exercise.solution_dir / file).read_text(encoding="utf-8").splitlines()
    matcher = difflib.SequenceMatcher(None, starter.read_text(encoding="utf-8").splitlines(), solution, autojunk=False)
    return {line + 1 for tag, _, _, first, last in matcher.get_opcodes() if tag != "equal" for line in range(first, last)}


def exercise_mutations(exercise: Exercise, limit: int) -> list[Mutation]:
    """At most ``limit`` mutants of what the learner writes in the exercise's solution (lines the
    starter does not have), spread over operators and files (round robin), in a stable order: the
    same content always gives the same mutants. The first tier's operators come first; the second
    tier's fill what is left of ``limit``."""
    tiers: list[dict[tuple[str, str], list[Mutation]]] = [{}, {}]
    seen: set[tuple[str, str]] = set()
    for extended, pools in enumerate(tiers):
        for file in solution_files(exercise):
            source = (exercise.solution_dir / file).read_text(encoding="utf-8")
            for mutation in mutations(file, source, written_lines(exercise, file), extended=bool(extended)):
                if (file, mutation.source) not in seen:  # the same code reached by both tiers counts once
                    seen.add((file, mutation.source))
                    pools.setdefault((mutation.operator, file), []).append(mutation)
    chosen = _round_robin(tiers[0], limit)
    return chosen + _round_robin(tiers[1], limit - len(chosen))


def _round_robin(pools: dict, limit: int) -> list[Mutation]:
    """At most ``limit`` mutants, taking one from each pool in turn (pools in key order)."""
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
    (folder / mutation.file).write_text(mutation.source + "\n", encoding="utf-8")


# -- perturbations: plausible learner values that a check must handle ---------------------------


def _wrap_return(wrap: Callable[[ast.expr], ast.expr]) -> Apply:
    """Return ``wrap(value)`` instead of ``value``; the twin is a copy of a ``return value``."""

    def apply(twin: ast.AST, _: ast.Module) -> None:
        assert isinstance(twin, ast.Return) and twin.value is not None  # only such returns are yielded
        twin.value = wrap(twin.value)

    return apply


def _append_copy(statement: ast.stmt) -> Apply:
    """Append a fresh copy of ``statement`` to the twin, a copy of an ast.ClassDef."""
    return lambda twin, _: cast(ast.ClassDef, twin).body.append(copy.deepcopy(statement))


def _perturbation_sites(tree: ast.Module) -> Iterator[tuple[ast.AST, str, str, Apply]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Return) and inner.value is not None:
                    code = _short(inner.value, 50)
                    yield (
                        inner,
                        "return-none",
                        f"return {code} in {node.name}",
                        (lambda twin, _: setattr(twin, "value", ast.Constant(None))),
                    )
                    yield (
                        inner,
                        "return-tuple",
                        f"return {code} in {node.name}",
                        _wrap_return(lambda value: ast.Tuple([value], ast.Load())),
                    )
                    yield (
                        inner,
                        "return-text",
                        f"return {code} in {node.name}",
                        _wrap_return(lambda value: ast.Call(ast.Name("repr", ast.Load()), [value], [])),
                    )
        elif isinstance(node, ast.ClassDef):
            for statement in node.body:
                if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
                    yield (
                        statement,
                        "drop-attribute",
                        f"{node.name}.{statement.target.id}",
                        (lambda twin, root: _drop_statement(root, cast(ast.AnnAssign, twin))),
                    )
            if any(
                isinstance(s, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__tablename__" for t in s.targets)
                for s in node.body
            ):
                extra = ast.parse("grader_extra: Mapped[int] = mapped_column()").body[0]
                yield node, "extra-required-column", f"grader_extra: Mapped[int] on {node.name}", _append_copy(extra)
    for statement in tree.body:
        if (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
            and isinstance(statement.value, ast.Call)
        ):
            yield (
                statement,
                "assign-none",
                f"{statement.targets[0].id} = None",
                (lambda twin, _: setattr(twin, "value", ast.Constant(None))),
            )


_RETYPES = [
    # operator, what is shown, pattern, replacement, import the replacement needs
    ("date-for-datetime", "DateTime", re.compile(r"\bDateTime\b"), "Date", "from sqlalchemy import Date\n"),
    ("date-for-datetime", "Mapped[datetime]", re.compile(r"Mapped\[datetime\]"), "Mapped[date]", "from datetime import date\n"),
    ("integer-for-string", "String(n)", re.compile(r"\bString\(\d*\)"), "Integer()", "from sqlalchemy import Integer\n"),
]


def perturbations(exercise: Exercise, limit: int) -> list[Mutation]:
    """At most ``limit`` perturbed copies of the solution's files (round robin over kinds)."""
    pools: dict[str, list[Mutation]] = {}
    for file in solution_files(exercise, provided=True):
        source = (exercise.solution_dir / file).read_text(encoding="utf-8")
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        nodes = list(ast.walk(tree))
        positions = {id(node): index for index, node in enumerate(nodes)}
        for node, operator, detail, apply in _perturbation_sites(tree):
            twin_tree = copy.deepcopy(tree)
            apply(list(ast.walk(twin_tree))[positions[id(node)]], twin_tree)
            ast.fix_missing_locations(twin_tree)
            pools.setdefault(operator, []).append(
                Mutation(file, getattr(node, "lineno", 0), operator, detail, ast.unparse(twin_tree))
            )
        for operator, shown, pattern, new, imports in _RETYPES:
            if pattern.search(source):
                retyped = imports + pattern.sub(new, source)
                pools.setdefault(operator, []).append(Mutation(file, 1, operator, f"{shown} -> {new}", retyped))
    return _round_robin(pools, limit)
