"""The DocChat module's shared check helpers (``from checker.authoring.shared import seed, ...``).

Users and documents seeded so that mistakes show.

Users are inserted in a shuffled order (a missing ORDER BY shows), documents interleaved with
distinct ``created_at`` values that are not in id order (sorting by id instead of date shows),
and some users own no documents. Seeding goes through the grader's own connection, so it is
never counted against the learner's SQL.

The FastAPI exercises (06-fastapi, 08-docchat) share how FastAPI sees a dependency (``yielding``,
``where_function``), reading an act's answer (``shaped``, ``count``), the sessions left open
(``open_transactions``) and the pool fixture's body (``held_pool(learner, fresh_pool, release)``:
their acts are passed in). Nothing here imports FastAPI: every exercise's checks import this file.

The Alembic exercises (07-migrations, 07-rename-migration) share the judge's side of running
Alembic and of reading the chain of revisions as text; their acts stay in their own checks.py
and are passed in (``run_alembic_command(..., alembic_command, ...)``, ``revision_chain(learner, revision_map)``).
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import inspect
import random
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import configure_mappers

from checker.authoring import fail, migrations


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
    from checker.authoring import url_literals

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
        oldest = " (oldest first)" if column == "created_at" else ""
        return f"Your query sorts by {terms}: {direction}, the wrong direction{oldest}: {fix}"
    if name == column:
        return f"Your query sorts by {terms}: {fix}"
    why = ""
    if name == "id" and column != "id":
        why = ". Ids say in which order rows were inserted, not when they were created (imports and backfills break that)"
    return f"Your query orders by another column (ORDER BY {terms}){why}: {fix}"


def close_not_called(learner, filename: str) -> str | None:
    """When ``filename`` has a bare ``x.close`` statement (the parentheses forgotten), the sentence
    that says so: that, not a missing ``finally``, is why the session kept its connection."""
    from checker.authoring import uncalled

    lines = uncalled(learner.source(filename), "close")
    if not lines:
        return None
    code = learner.source(filename).splitlines()[lines[0] - 1].strip()
    return (
        f"{filename}:{lines[0]} says `{code}` without parentheses: that only names the method, it does not "
        f"call it, so the session is never closed. Call it: `{code}()`"
    )


# --------------------------------------------------------------------------- Alembic (07-migrations, 07-rename-migration)


def alembic_in_witness(ctx, migrate, verb: str, target: str) -> dict:
    """The body of an ``alembic_command`` act (in the learner's process): `alembic <verb> <target>`
    on the run's database, DATABASE_URL passed to Alembic's config; ``migrate`` is the exercise's
    ``migrations.Advised``. ``{}`` when it ran, ``{"error": explained, "frames": the learner's
    frames}`` or ``{"exited": ...}``."""
    from alembic import command

    if verb not in ("upgrade", "downgrade"):
        return {"error": f"no such command: alembic {verb}", "frames": ""}
    config = migrations.alembic_config(ctx.learner, ctx.database_url)
    try:
        getattr(command, verb)(config, str(target))
    except SystemExit as error:
        return {"exited": str(error)}
    except Exception as error:
        return {"error": migrate.explain(error, ctx.learner), "frames": migrations.learner_frames(error, ctx.learner)}
    return {}


def revisions_in_witness(ctx, migrate) -> dict:
    """The body of a ``revision_map`` act (in the learner's process): the chain as Alembic reads it,
    for revisions whose ids are not written as plain strings."""
    config = migrations.alembic_config(ctx.learner, ctx.database_url)
    script = migrate.script_directory(ctx.learner, config)
    try:
        return {
            "revisions": [
                {
                    "path": migrations.relative(ctx.learner, r.path),
                    "revision": str(r.revision),
                    "down": [str(d) for d in r._versioned_down_revisions],
                }
                for r in script.walk_revisions()
            ]
        }
    except Exception as error:
        return {"error": migrate.explain(error, ctx.learner)}


def run_alembic_command(learner, sql, command, verb: str, target: str, *, doing: str = "", owner: str = "") -> None:
    """``alembic <verb> <target>`` in the learner's process, through the exercise's act ``command``;
    a failure names the command, the learner's line and the cause, and flags the last statement
    Postgres received.

    ``owner``: this run only sets the stage, the check named there reports its failure in full."""
    with sql.capture() as log:
        outcome = learner.run(command, verb, target)
    if not isinstance(outcome, dict):
        outcome = {"error": f"the process running your code gave an answer the grader cannot read: {str(outcome)[:200]}"}
    if "exited" in outcome:
        migrations.command_exited(verb, target, outcome["exited"], doing=doing)
    if "error" in outcome:
        detail = (outcome.get("frames") or outcome["error"]) if owner else outcome["error"]
        migrations.command_failed(sql, log, verb, target, detail, doing=doing, owner=owner)


@dataclass
class Revision:
    """One file of alembic/versions/, as the judge reads it (never imported here)."""

    path: str
    revision: str | None = None
    down: tuple[str, ...] | None = None
    """down_revision as a tuple (``()`` for None); None when it is not written as a literal."""
    written: object = None
    tree: ast.Module | None = None
    unreadable: str = ""


@dataclass
class Chain:
    revisions: list[Revision] = field(default_factory=list)
    unreadable: str = ""
    """Why Alembic cannot read the revisions (the first file that does not parse), or ""."""

    @property
    def ids(self) -> set[str]:
        return {r.revision for r in self.revisions if r.revision}

    @property
    def heads(self) -> list[str]:
        named = {d for r in self.revisions for d in (r.down or ())}
        return [r.revision for r in self.revisions if r.revision and r.revision not in named]

    @property
    def bases(self) -> list[str]:
        return [r.revision for r in self.revisions if r.revision and r.down == ()]

    def get(self, revision: str) -> Revision | None:
        return next((r for r in self.revisions if r.revision == revision), None)


_UNKNOWN = object()


def _literal(tree: ast.Module, name: str):
    """The last top-level ``name = <literal>`` (or ``name: T = <literal>``): the value Alembic reads."""
    value = None
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets = [node.target]
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            try:
                value = ast.literal_eval(node.value)  # type: ignore[arg-type]
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                value = _UNKNOWN
    return value


def read_revision(learner, relative: str) -> Revision:
    revision = Revision(relative)
    source = learner.source(relative)
    try:
        revision.tree = ast.parse(source, filename=relative)
    except (SyntaxError, ValueError) as error:
        line = getattr(error, "lineno", None)
        code = (getattr(error, "text", None) or "").strip()
        revision.unreadable = (
            f"{relative}{':' + str(line) if line else ''}"
            + (f"\n    {code}" if code else "")
            + f"\nSyntaxError: {getattr(error, 'msg', error)}"
        )
        return revision
    found = _literal(revision.tree, "revision")
    revision.revision = found if isinstance(found, str) and found else None
    down = _literal(revision.tree, "down_revision")
    revision.written = down
    if down is None or down == ():
        revision.down = ()
    elif isinstance(down, str):
        revision.down = (down,)
    elif isinstance(down, list | tuple) and all(isinstance(d, str) for d in down):
        revision.down = tuple(down)
    return revision


def revision_chain(learner, revision_map) -> Chain:
    """The revisions in alembic/versions/, read from the learner's files as they were when the run
    began. Where an id is not written as a plain string, Alembic reads it (in the learner's process,
    through the exercise's act ``revision_map``)."""
    versions = learner.dir / "alembic" / "versions"
    names = (
        sorted(p.name for p in versions.glob("*.py") if not p.name.startswith((".#", "__init__"))) if versions.is_dir() else []
    )
    chain = Chain([read_revision(learner, f"alembic/versions/{name}") for name in names])
    broken = next((r.unreadable for r in chain.revisions if r.unreadable), "")
    if broken:
        chain.unreadable = broken
        return chain
    if all(r.revision and r.down is not None for r in chain.revisions):
        return chain
    read = learner.run(revision_map)
    if not isinstance(read, dict) or "error" in read or not isinstance(read.get("revisions"), list):
        error = read.get("error") if isinstance(read, dict) else None
        chain.unreadable = str(error or "the revisions could not be read")
        return chain
    by_path = {r.path: r for r in chain.revisions}
    for item in read["revisions"]:
        if not isinstance(item, dict) or str(item.get("path")) not in by_path:
            continue
        revision = by_path[str(item["path"])]
        revision.revision = str(item.get("revision") or "") or None
        revision.down = tuple(str(d) for d in item.get("down") or [])
    return chain


def require_readable(chain: Chain) -> None:
    if chain.unreadable:
        fail("Alembic could not read your revisions in alembic/versions/:\n" + chain.unreadable)
    for revision in chain.revisions:
        if not revision.revision:
            fail(
                f"Alembic could not read your revisions in alembic/versions/: {revision.path} declares no revision id. "
                "Be sure the 'revision' variable is declared inside the script"
            )
    for revision in chain.revisions:
        for down in revision.down or ():
            if down not in chain.ids:
                fail(
                    f"Alembic could not read your revisions in alembic/versions/: {revision.path} has down_revision = "
                    f"{down!r}, and no file declares that revision. → A down_revision names a revision id that no file "
                    "in alembic/versions/ has: check for typos."
                )


def _function(revision: Revision, name: str) -> ast.FunctionDef | None:
    if revision.tree is None:
        return None
    found = None
    for node in revision.tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            found = node
    return found


def function_line(revision: Revision, name: str) -> str:
    """``alembic/versions/x.py:41`` — where ``name()`` of that revision is defined."""
    function = _function(revision, name)
    return f"{revision.path}:{function.lineno}" if function is not None else revision.path


def is_noop(revision: Revision, name: str) -> bool:
    """Whether ``name()``'s body is only a docstring, comments and ``pass``."""
    function = _function(revision, name)
    return function is not None and all(
        isinstance(node, ast.Pass) or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
        for node in function.body
    )


_REFERENCE: dict[tuple[str, str], object] = {}


def reference_metadata(name: str, models_file: Path):
    """``Base.metadata`` of ``models_file`` (models.py as the exercise provides it), loaded as the
    module ``name``: the reference of the drift comparison (the judge never imports the learner's
    code; models.py is not the learner's to edit)."""
    key = (name, str(models_file))
    if key not in _REFERENCE:
        spec = importlib.util.spec_from_file_location(name, models_file)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules[name] = module  # annotations are resolved in the module's namespace
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        _REFERENCE[key] = module.Base.metadata
    return _REFERENCE[key]


def models_changed(learner, models_file: Path) -> str:
    """A sentence when the learner's models.py is not ``models_file`` (the one provided, the grader compares with that)."""
    provided = models_file.read_text(encoding="utf-8")
    if learner.source("models.py").strip() == provided.strip():
        return ""
    return (
        "\n(Your models.py differs from the one provided; the grader compares the database with models.py as "
        "provided: copy it back from the starter.)"
    )


# --------------------------------------------------------------------------- FastAPI (06-fastapi, 08-docchat)


def yielding(call) -> bool:
    """Whether FastAPI runs ``call`` as a dependency with cleanup after the request, as it decides:
    a generator function or an async one, a functools.partial of one, or an instance whose
    ``__call__`` is one (a class itself is called to build an instance: no cleanup)."""
    while isinstance(call, functools.partial):
        call = call.func
    if inspect.isclass(call):
        return False
    if inspect.isgeneratorfunction(call) or inspect.isasyncgenfunction(call):
        return True
    dunder = getattr(type(call), "__call__", None) if not inspect.isfunction(call) else None  # noqa: B004 (the method itself)
    return dunder is not None and (inspect.isgeneratorfunction(dunder) or inspect.isasyncgenfunction(dunder))


def source_of(call):
    """The function whose source a dependency is: itself, or its class's ``__call__``."""
    while isinstance(call, functools.partial):
        call = call.func
    if inspect.isfunction(call) or inspect.ismethod(call) or inspect.isclass(call):
        return call
    return getattr(type(call), "__call__", call)  # noqa: B004 (the method itself)


def where_function(function, learner, default: str = "main.py") -> str:
    """``main.py:23`` — where a learner function is defined (a callable instance: its ``__call__``);
    ``default`` when that cannot be told."""
    function = source_of(function)
    try:
        filename = Path(inspect.getsourcefile(function)).resolve()
        line = inspect.getsourcelines(function)[1]
        return f"{filename.relative_to(learner.dir.resolve())}:{line}"
    except (TypeError, OSError, ValueError):
        return default


def shaped(value, keys: tuple[str, ...], what: str) -> dict:
    """An act's answer, or a failure when it is not the plain data the act returns."""
    if not isinstance(value, dict) or any(key not in value for key in keys):
        fail(f"{what}: the answer from your code's process is not what the grader's act returns ({str(value)[:120]})")
    return value


def count(value) -> int:
    """A number from an act's answer (anything else counts as nothing)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def open_transactions(db, marker: str | None = None) -> int:
    """Backends of the run's database, other than the judge's, left inside a transaction (a session
    not closed holds its connection that way); with ``marker``, only those whose last statement
    was the judge's marker."""
    query = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND state LIKE 'idle in transaction%'"
    )
    with db.connect() as conn:
        if marker is None:
            return conn.execute(text(query)).scalar_one()
        return conn.execute(text(query + " AND query LIKE :marker"), {"marker": f"%{marker}%"}).scalar_one()


def held_pool(learner, fresh_pool, release):
    """The body of an exercise's ``pool`` fixture (``yield from held_pool(learner, fresh_pool, release)``):
    its act ``fresh_pool`` empties db.engine's pool and turns the collector off, and after the check
    its act ``release`` lets go of what the check held (a failure there is not the check's)."""
    learner.run(fresh_pool)
    yield
    try:
        learner.run(release)
    except Exception:
        pass


# --------------------------------------------------------------------------- act answers (09, 10, 12)


class Answer(dict):
    """An act's answer (plain JSON): a key it lacks fails the check, as an answer out of shape."""

    def __missing__(self, key):
        fail(f"your code's process answered without {key!r}: {OUT_OF_SHAPE}")


OUT_OF_SHAPE = (
    "not the shape of what the grader asked for. The grading code that runs beside your code was changed, "
    "so no verdict can rest on that answer"
)


def ask(learner, act_function, *args, kind: type | tuple = dict, size: int | None = None):
    """``learner.run(act_function, *args)``, its answer checked for the act's shape (a dict, a list of
    ``size`` items...)."""
    answer = learner.run(act_function, *args)
    if not isinstance(answer, kind) or (size is not None and len(answer) != size):
        fail(f"your code's process answered {type(answer).__name__} to `{act_function.__name__}`: {OUT_OF_SHAPE}")
    return Answer(answer) if isinstance(answer, dict) else answer


# ------------------------------------------------------------ server defaults (02, 08, 09)


def frozen_default(conn, table: str, column: str) -> str | None:
    """The constant ``table.column``'s default is, when Postgres keeps one value for every row
    (``server_default="now()"``: the quoted text 'now()' is cast once, at CREATE TABLE, and every
    later row gets that moment); None when the default is evaluated per row (a function call)."""
    row = conn.execute(
        text(
            "SELECT d.adbin::text LIKE '{CONST%', pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d "
            "JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum "
            "WHERE d.adrelid = CAST(:table AS regclass) AND a.attname = :column"
        ),
        {"table": table, "column": column},
    ).first()
    return row[1] if row is not None and row[0] else None


def frozen_message(table: str, column: str, constant: str, fix: str, where: str) -> str:
    return (
        f"{table}.{column}'s default is the constant {constant}: one moment, fixed when the table was "
        "created, given to every row. A quoted server_default=\"now()\" is text, which Postgres turned into "
        f"a timestamp once, at CREATE TABLE; a default evaluated for each row is the SQL function: {fix} ({where})"
    )
