"""Built-in fixtures for checks: the learner's modules, the fresh database, the captured SQL.

=================  ===========================================================================
``learner``        :class:`Learner` — the learner's modules (``learner.models``), sources, ASTs
``db``             a grader ``Engine`` on the fresh database, as the learner's role, not captured
``captured_engine`` an ``Engine`` for the learner's sessions: captured, sharing ``db``'s connections
``admin``          a grader ``Engine`` on the fresh database as its owner, the learner's role, which
                   may see and end its own sessions (``pg_stat_activity``, ``pg_terminate_backend``);
                   no process that runs learner code ever has superuser rights
``database_url``   the ``DATABASE_URL`` the learner's code was given
``schema``         :class:`Schema` — the real schema, reflected from Postgres (columns, keys,
                   constraints, and indexes: :class:`IndexInfo`)
``sql``            :class:`Sql` — ``with sql.capture() as log:`` and ``sql.flag(...)``
=================  ===========================================================================
"""

from __future__ import annotations

import ast
import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import Engine

from checker.api import fail
from checker.capture import log as capture
from checker.capture.log import CapturedStatement


class Learner:
    """The learner's exercise folder and the modules imported from it."""

    def __init__(self, directory: Path, modules: dict[str, ModuleType]):
        self.dir = directory
        self._modules = modules

    def __getattr__(self, name: str) -> ModuleType:
        if name.startswith("_"):
            raise AttributeError(name)
        return self.module(name)

    def module(self, name: str) -> ModuleType:
        """An imported learner module; importing it now if it was not imported up front."""
        if name not in self._modules:
            if not (self.dir / f"{name}.py").exists():
                fail(f"{name}.py is missing from your exercise folder ({self.dir})")
            import importlib

            self._modules[name] = importlib.import_module(name)
        return self._modules[name]

    def require(self, module: str, name: str, what: str = "") -> object:
        """``module.name``, or a failure that says exactly what to define where."""
        value = getattr(self.module(module), name, None)
        if value is None:
            fail(f"{module}.py must define `{name}`{' (' + what + ')' if what else ''}")
        return value

    def source(self, filename: str) -> str:
        path = self.dir / filename
        return path.read_text(encoding="utf-8") if path.exists() else ""

    def tree(self, filename: str) -> ast.Module:
        return ast.parse(self.source(filename), filename=filename)

    def where(self, class_name: str, attribute: str | None = None, filename: str = "models.py") -> str:
        """``models.py:12`` — where ``class_name`` (or its ``attribute``) is defined, for messages."""
        for node in ast.walk(self.tree(filename)):
            if isinstance(node, ast.ClassDef) and node.name == class_name:
                if attribute is None:
                    return f"{filename}:{node.lineno}"
                for item in node.body:
                    targets: list[ast.expr] = []
                    if isinstance(item, ast.AnnAssign):
                        targets = [item.target]
                    elif isinstance(item, ast.Assign):
                        targets = item.targets
                    elif isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name == attribute:
                        return f"{filename}:{item.lineno}"
                    if any(isinstance(t, ast.Name) and t.id == attribute for t in targets):
                        return f"{filename}:{item.lineno}"
                return f"{filename}:{node.lineno}"
        return filename

    def where_defined(self, name: str, filename: str) -> str:
        """``db.py:8`` — where ``name`` is defined at the top level of ``filename`` (a ``def``, a
        ``class`` or an assignment), for messages; ``filename`` alone when it is not (or does not parse)."""
        try:
            tree = self.tree(filename)
        except SyntaxError:
            return filename
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name == name:
                return f"{filename}:{node.lineno}"
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return f"{filename}:{node.lineno}"
        return filename


@dataclass
class ColumnInfo:
    name: str
    type: object
    nullable: bool
    default: str | None
    autoincrement: bool | str
    identity: Mapping[str, object] | None = None

    @property
    def generated(self) -> bool:
        """Whether Postgres generates values (SERIAL's sequence default, or an IDENTITY column)."""
        return bool(self.identity) or "nextval(" in (self.default or "")

    @property
    def type_name(self) -> str:
        return type(self.type).__name__.upper()

    @property
    def length(self) -> int | None:
        return getattr(self.type, "length", None)

    def describe(self) -> str:
        return f"{self.type} {'NULL' if self.nullable else 'NOT NULL'}"


@dataclass
class IndexInfo:
    """One index as Postgres has it (from ``pg_index``): what a check of a learner's index reads."""

    name: str
    keys: list[str]
    """Its key parts in order: a column name, or the expression's text (``lower(email)``)."""
    expressions: list[str]
    """The key parts that are expressions, not plain columns."""
    unique: bool
    primary: bool
    predicate: str | None
    """The ``WHERE`` of a partial index, as Postgres prints it (``(deleted_at IS NULL)``), else ``None``."""
    method: str
    """``btree``, ``hash``, ``gin``, ``gist``, ``brin`` ..."""
    include: list[str]
    """``INCLUDE (...)`` columns: stored, not searchable."""
    definition: str
    """``CREATE [UNIQUE] INDEX ...`` as ``pg_get_indexdef`` prints it."""
    descending: list[bool] = field(default_factory=list)
    """Per key part: sorted descending."""

    @property
    def columns(self) -> list[str]:
        """The plain columns among the keys, in order."""
        return [key for key in self.keys if key not in self.expressions]

    @property
    def partial(self) -> bool:
        return self.predicate is not None

    def leads_with(self, *keys: str) -> bool:
        """Whether ``keys`` are this index's first key parts, in this order (what a B-tree can search by)."""
        return [k.lower() for k in self.keys[: len(keys)]] == [k.lower() for k in keys]

    def describe(self) -> str:
        return self.definition


INDEXES = """
SELECT i.relname AS name, x.indisunique AS is_unique, x.indisprimary AS is_primary, am.amname AS method,
       pg_get_expr(x.indpred, x.indrelid, true) AS predicate, x.indnkeyatts AS key_count,
       pg_get_indexdef(x.indexrelid, 0, true) AS definition,
       ARRAY(SELECT pg_get_indexdef(x.indexrelid, k + 1, true) FROM generate_series(0, x.indnatts - 1) AS k ORDER BY k) AS parts,
       ARRAY(SELECT (x.indkey::int2[])[k] = 0 FROM generate_series(0, x.indnatts - 1) AS k ORDER BY k) AS is_expression,
       ARRAY(SELECT (x.indoption::int2[])[k] & 1 = 1 FROM generate_series(0, x.indnatts - 1) AS k ORDER BY k) AS is_descending
  FROM pg_index x
  JOIN pg_class i ON i.oid = x.indexrelid
  JOIN pg_class t ON t.oid = x.indrelid
  JOIN pg_am am ON am.oid = i.relam
 WHERE t.relname = :table AND t.relnamespace = to_regnamespace(:schema)
 ORDER BY i.relname
"""


def reflect_indexes(engine: Engine, table: str, schema: str = "public") -> list[IndexInfo]:
    """Every index of ``table`` (primary key and unique constraints' indexes included), by name."""
    from sqlalchemy import text

    with engine.connect() as conn:
        rows = conn.execute(text(INDEXES), {"table": table, "schema": schema}).mappings().all()
    indexes = []
    for row in rows:
        parts, count = list(row["parts"]), row["key_count"]
        keys = [_unquote(part) for part in parts[:count]]
        expressions = [key for key, is_expression in zip(keys, row["is_expression"][:count], strict=True) if is_expression]
        indexes.append(
            IndexInfo(
                name=row["name"],
                keys=keys,
                expressions=expressions,
                unique=row["is_unique"],
                primary=row["is_primary"],
                predicate=row["predicate"],
                method=row["method"],
                include=[_unquote(part) for part in parts[count:]],
                definition=row["definition"],
                descending=list(row["is_descending"][:count]),
            )
        )
    return indexes


def _unquote(identifier: str) -> str:
    if len(identifier) > 1 and identifier[0] == identifier[-1] == '"':
        return identifier[1:-1].replace('""', '"')
    return identifier


@dataclass
class TableInfo:
    name: str
    columns: dict[str, ColumnInfo]
    primary_key: list[str]
    foreign_keys: Sequence[Mapping[str, Any]]
    unique_sets: list[frozenset[str]] = field(default_factory=list)
    indexes: list[IndexInfo] = field(default_factory=list)
    """Every index, the primary key's and unique constraints' included (see :class:`IndexInfo`)."""

    def index(self, name: str) -> IndexInfo:
        """The index ``name``, or a failure that lists the table's indexes."""
        for index in self.indexes:
            if index.name == name:
                return index
        fail(f"table `{self.name}` has no index `{name}` (it has: {', '.join(i.name for i in self.indexes) or 'none'})")
        raise AssertionError  # fail() raised

    def indexes_on(self, *keys: str, unique: bool | None = None) -> list[IndexInfo]:
        """The indexes whose first key parts are ``keys`` (columns or expressions, in order) —
        those Postgres can search by them — unique ones only (or non-unique only) when asked."""
        return [i for i in self.indexes if i.leads_with(*keys) and (unique is None or i.unique == unique)]

    def column(self, name: str) -> ColumnInfo:
        if name not in self.columns:
            fail(f"table `{self.name}` has no column `{name}` (it has: {', '.join(self.columns) or 'none'})")
        return self.columns[name]

    def expect_column(
        self, name: str, where: str, *, types: set[str], nullable: bool, length: int | None = None, missing: str = ""
    ) -> ColumnInfo:
        """The column ``name``, or a failure that says how it differs: its type (``type_name`` one of
        ``types``), its VARCHAR ``length``, its NULL-ability. ``where`` (``models.py:12``) ends each
        message; ``missing`` replaces the message for a column that is not there at all."""
        if missing and name not in self.columns:
            fail(missing)
        column = self.column(name)
        if column.type_name not in types:
            fail(f"{self.name}.{name} is {column.type} in Postgres; expected {' or '.join(sorted(types))} ({where})")
        if length is not None and column.length != length:
            got = f"length {column.length}" if column.length else "no length"
            fail(f"{self.name}.{name} is {column.type} ({got}); expected VARCHAR({length}): use String({length}) ({where})")
        if column.nullable != nullable:
            if nullable:
                fail(
                    f"{self.name}.{name} is NOT NULL in Postgres, but it must allow NULL: "
                    f"annotate it Mapped[str | None] ({where})"
                )
            fail(
                f"{self.name}.{name} allows NULL in Postgres, but it must be NOT NULL: "
                f"annotate it Mapped[...] without `| None` and without nullable=True ({where})"
            )
        return column

    def is_unique(self, *columns: str) -> bool:
        """Whether exactly this set of columns carries a UNIQUE constraint or unique index."""
        return frozenset(columns) in self.unique_sets or list(columns) == self.primary_key

    def foreign_key(self, column: str) -> Mapping[str, Any] | None:
        for fk in self.foreign_keys:
            if fk["constrained_columns"] == [column]:
                return fk
        return None


class Schema:
    """The schema as it really is in Postgres (reflected fresh on every call)."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def table_names(self) -> list[str]:
        return inspect(self.engine).get_table_names()

    def has_table(self, name: str) -> bool:
        return name in self.table_names()

    def table(self, name: str) -> TableInfo:
        inspector = inspect(self.engine)
        if name not in inspector.get_table_names():
            found = ", ".join(inspector.get_table_names()) or "no tables"
            fail(f"there is no table `{name}` in the database (found: {found}); check __tablename__")
        columns = {
            c["name"]: ColumnInfo(
                c["name"], c["type"], c["nullable"], c.get("default"), c.get("autoincrement", False), c.get("identity")
            )
            for c in inspector.get_columns(name)
        }
        uniques = [frozenset(u["column_names"]) for u in inspector.get_unique_constraints(name)]
        for index in inspector.get_indexes(name):
            columns_of = [c for c in index["column_names"] if c is not None]
            # an expression index names None for each expression: it is no set of plain columns
            if index.get("unique") and len(columns_of) == len(index["column_names"]):
                uniques.append(frozenset(columns_of))
        return TableInfo(
            name=name,
            columns=columns,
            primary_key=inspector.get_pk_constraint(name).get("constrained_columns") or [],
            foreign_keys=inspector.get_foreign_keys(name),
            unique_sets=uniques,
            indexes=reflect_indexes(self.engine, name),
        )

    def indexes(self, table: str) -> list[IndexInfo]:
        """The indexes of ``table`` (shorthand for ``schema.table(table).indexes``)."""
        return self.table(table).indexes


class Sql:
    """Captured SQL for the current check, and a way to mark the statements a failure is about."""

    def __init__(self):
        self.flagged: list[tuple[CapturedStatement, str]] = []

    @contextlib.contextmanager
    def capture(self):
        """Record what the learner's code sends inside the block (the result shows everything the
        learner's code sent during the check, with flagged statements marked)."""
        with capture.capture() as log:
            yield log

    def flag(self, statements, note: str = "") -> None:
        """Mark ``statements`` as the ones the failure is about (shown highlighted)."""
        for statement in statements:
            self.flagged.append((statement, note))

    @staticmethod
    @contextlib.contextmanager
    def paused():
        with capture.paused():
            yield


@dataclass
class Environment:
    """What the harness knows about the run: handed to the built-in fixtures."""

    learner: Learner
    database_url: str
    engines: dict[str, Engine] = field(default_factory=dict)

    def engine(self, url: str) -> Engine:
        """The grader's engine for ``url``, shared by the checks of a run (connecting costs more
        than the average check)."""
        if url not in self.engines:
            self.engines[url] = new_grader_engine(url)
        return self.engines[url]

    def dispose(self) -> None:
        for engine in self.engines.values():
            engine.dispose()
        self.engines.clear()
        dispose = getattr(type(self.learner), "dispose", None)  # on the class: a Learner's attributes are modules
        if dispose is not None:
            dispose(self.learner)


def new_grader_engine(url: str, *, role: str | None = None, pre_ping: bool = True) -> Engine:
    """An engine of the grader's own (never captured). Pre-ping, because a check may terminate
    idle connections of the learner's role (``pre_ping=False`` for a role learner code cannot
    end); no server-side prepared statements, because the schema is dropped between checks.
    ``role``: the role its sessions act as (``SET ROLE`` at login; the judge's, see ``checker.judge``)."""
    connect_args: dict = {"prepare_threshold": None}
    if role:
        connect_args["options"] = "-c role=" + role.replace("\\", "\\\\").replace(" ", "\\ ")
    engine = create_engine(url, pool_size=2, max_overflow=8, pool_pre_ping=pre_ping, connect_args=connect_args)
    return capture.grader_engine(engine)


def _learner(environment: Environment) -> Learner:
    return environment.learner


def _database_url(environment: Environment) -> str:
    return environment.database_url


def _db(environment: Environment) -> Engine:
    return environment.engine(environment.database_url)


def _admin(environment: Environment) -> Engine:
    return environment.engine(environment.database_url)


def _schema(db: Engine) -> Schema:
    return Schema(db)


def _captured_engine(db: Engine) -> Engine:
    """``db`` seen through an option engine: the same pool and dialect (no new connection, no new
    initialisation), but not the grader's own, so what runs through it is captured."""
    return db.execution_options()


BUILTINS = {
    "learner": _learner,
    "database_url": _database_url,
    "db": _db,
    "admin": _admin,
    "schema": _schema,
    "captured_engine": _captured_engine,
}
"""Built-in fixtures; ``environment`` and ``sql`` are provided by the harness for each check."""
