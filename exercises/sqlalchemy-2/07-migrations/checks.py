"""Checks for 07-migrations: env.py wired to the models and DATABASE_URL, a reviewed first revision.

Judged apart from the learner's code (docs/authoring.md, "Acts and checks"). Alembic runs beside
the learner's code, in the learner's process, exactly as the `alembic` command would: the acts
below make a Config from the learner's `alembic.ini` and call `alembic.command.upgrade/downgrade`,
which execute the learner's `alembic/env.py` and revisions, and they return plain data (what went
wrong, explained with the learner's frames). Every verdict is the judge's, from what it sees
itself:

- the schema and rows the migrations left, through the judge's own connection;
- the SQL as Postgres received it (the failing statement of a migration; the statement sent on
  env.py's own connection with a marker drawn for this run: env.py connected to DATABASE_URL);
- the learner's files read as text: the chain of revisions (revision / down_revision), where
  upgrade() and downgrade() are, what a revision imports, the URL literals;
- models.py as the exercise provides it (the judge never imports the learner's code), the
  reference of the drift comparison.

In the spirit of pytest-alembic: a single head; `upgrade` on an empty database; no drift between
the models and the migrated database; `downgrade base` leaves nothing behind; up again works.

Isolation: every act except the one of `env-url-from-env` passes DATABASE_URL to Alembic's config
itself (as pytest-alembic passes its own connection), so a missing URL line in env.py fails that one
check instead of all of them. `env-url-from-env` runs env.py with alembic.ini exactly as written.
"""

from __future__ import annotations

import ast
import configparser
import re
import secrets
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from checker.authoring import act, check, fail, fix_or_hint, migrations, url_literals
from checker.authoring.shared import (
    alembic_in_witness,
    function_line,
    is_noop,
    models_changed,
    reference_metadata,
    require_readable,
    revision_chain,
    revisions_in_witness,
    run_alembic_command,
    url_mismatch,
)

HERE = Path(__file__).parent
PROVIDED_MODELS = HERE / "starter" / "models.py"
"""models.py as this exercise provides it: the reference of the drift comparison."""
TABLES = ("users", "documents")
GENERATE = 'course exec 07-migrations -- alembic revision --autogenerate -m "create users and documents"'
MARKER = "course-env-"
"""The statement env.py's connection sends, with a nonce the judge draws per run: `SELECT 'course-env-<nonce>'`."""


def advice(text_: str) -> str | None:
    """What an Alembic error usually means in this exercise."""
    if 'relation "users" does not exist' in text_:
        return (
            "documents has a foreign key to users, so users must exist first: in upgrade(), "
            'create "users" before "documents".'
        )
    if "depends on it" in text_ or "other objects depend on" in text_:
        return (
            "Another table still points at the one being dropped (documents.owner_id → users): in "
            'downgrade(), undo in reverse order: op.drop_table("documents") first, then op.drop_table("users").'
        )
    if "already exists" in text_:
        return "upgrade() tried to create something that is already there: the previous downgrade() did not remove it."
    return None


migrate = migrations.Advised(advice)
"""``migrate.explain(...)``, ``migrate.script_directory(...)`` with this advice (in the acts)."""


# --------------------------------------------------------------------------- acts: in the learner's process


@act
def alembic_command(ctx, verb: str, target: str) -> dict:
    """`alembic <verb> <target>` on the run's database, DATABASE_URL passed to Alembic's config:
    ``{}`` when it ran, ``{"error": explained, "frames": the learner's frames}`` or ``{"exited": ...}``."""
    return alembic_in_witness(ctx, migrate, verb, target)


@act
def run_env(ctx, as_written: bool, nonce: str, build: bool) -> dict:
    """Run env.py the way every Alembic command does, migrating nothing, and say what it configured:
    ``metadata`` (whether it handed Alembic a target_metadata), ``tables`` (the tables it describes),
    ``url`` (where its connection points, password hidden). On that connection it sends the judge's
    marker (``nonce``) and, with ``build``, creates the tables of target_metadata (the judge then
    reads them). ``as_written``: alembic.ini exactly as the learner has it (no URL passed)."""
    from alembic.runtime.environment import EnvironmentContext

    config = migrations.alembic_config(ctx.learner, None if as_written else ctx.database_url)
    script = migrate.script_directory(ctx.learner, config)
    seen: dict = {}

    def record(revision, context):
        metadata = context.opts.get("target_metadata")
        candidates = [m for m in (metadata if isinstance(metadata, list | tuple) else [metadata]) if m is not None]
        seen["metadata"] = metadata is not None
        seen["tables"] = sorted({str(name) for m in candidates for name in getattr(m, "tables", {})})
        connection = context.connection
        if connection is not None:
            seen["url"] = connection.engine.url.render_as_string(hide_password=True)
            if re.fullmatch(r"[0-9a-f]{16,64}", nonce):
                connection.exec_driver_sql(f"SELECT '{MARKER}{nonce}'")
            if build:
                for candidate in candidates:
                    if hasattr(candidate, "create_all"):
                        candidate.create_all(connection)
        return []  # migrate nothing

    try:
        with EnvironmentContext(config, script, fn=record):
            script.run_env()
    except Exception as error:
        return {"error": migrate.explain(error, ctx.learner)}
    return seen


@act
def revision_map(ctx) -> dict:
    """The chain as Alembic reads it, for revisions whose ids are not written as plain strings."""
    return revisions_in_witness(ctx, migrate)


# --------------------------------------------------------------------------- the judge: running Alembic


def run(learner, sql, verb: str, target: str, *, doing: str = "", owner: str = "") -> None:
    """``alembic <verb> <target>`` in the learner's process (see ``run_alembic_command``)."""
    run_alembic_command(learner, sql, alembic_command, verb, target, doing=doing, owner=owner)


def upgrade_first(learner, sql, db, *, need_tables: bool = True) -> None:
    """Upgrade an empty database to head (all heads); with ``need_tables``, insist it built something."""
    run(learner, sql, "upgrade", "heads", doing="on an empty database, ", owner="upgrade-head")
    if need_tables and not migrations.table_names(db) - {"alembic_version"}:
        fail("`alembic upgrade head` created no table, so there is nothing to downgrade yet: see the check `upgrade-head`")


# --------------------------------------------------------------------------- the checks


SET_URL = 'config.set_main_option("sqlalchemy.url", os.environ["DATABASE_URL"])'


def env_outcome(learner, *, as_written: bool, nonce: str = "", build: bool = False) -> dict:
    """What env.py configured (see the act ``run_env``), or a failure that says why it did not run.
    On the untouched starter a failure names what to do, not the line to write (that is the hint's)."""
    seen = learner.run(run_env, as_written, nonce, build)
    if not isinstance(seen, dict):
        seen = {"error": f"the process running your code gave an answer the grader cannot read: {str(seen)[:200]}"}
    if "error" in seen:
        message = "alembic/env.py failed when Alembic ran it:\n" + str(seen["error"])
        hint = fix_or_hint(learner, HERE, "")
        if hint and SET_URL in message:
            message = message.replace(SET_URL, f'os.environ["DATABASE_URL"] handed to Alembic\'s config. {hint}')
        fail(message)
    if "metadata" not in seen:
        fail(
            "alembic/env.py ran but never ran the migrations: keep the end of the generated file "
            "(run_migrations_online() calling context.configure(...) and context.run_migrations())"
        )
    return seen


@check("env-target-metadata", "env.py hands Alembic your models' metadata (target_metadata)")
def env_target_metadata(learner, db):
    seen = env_outcome(learner, as_written=False, build=True)
    line = next(
        (n for n, text_ in enumerate(learner.source("alembic/env.py").splitlines(), 1) if text_.startswith("target_metadata")),
        None,
    )
    where = f"alembic/env.py:{line}" if line else "alembic/env.py"
    if not seen.get("metadata"):
        fail(
            f"target_metadata is None ({where}), so Alembic cannot see your models: `alembic revision "
            "--autogenerate` stops with \"Can't proceed with --autogenerate option\", and a revision made "
            "without --autogenerate starts with an upgrade() that is just `pass`. Alembic learns what the schema "
            "should be from the metadata env.py hands it. "
            + fix_or_hint(
                learner,
                HERE,
                "Add `from models import Base` and set `target_metadata = Base.metadata`; "
                "then delete any empty revision and generate again",
            )
        )
    found = migrations.table_names(db)  # the judge's own connection: what that metadata built
    if set(TABLES) <= found:
        return
    described = [str(t) for t in seen.get("tables") or []] if isinstance(seen.get("tables"), list) else []
    if set(TABLES) <= set(described):
        fail(
            f"target_metadata ({where}) describes users and documents, but the tables it built on env.py's "
            "connection were not in the database once env.py finished: env.py must run the migrations in a "
            "transaction it commits (keep `with context.begin_transaction(): context.run_migrations()`)"
        )
    fail(
        f"target_metadata ({where}) holds the tables {described or 'none'}, not users and documents: "
        "use the metadata of your models, `target_metadata = Base.metadata` with `from models import Base`"
    )


@check("env-url-from-env", "env.py connects to DATABASE_URL, with no URL in the code")
def env_url_from_env(learner, database_url, sql):
    nonce = secrets.token_hex(12)  # drawn here, for this run: no file holds it
    with sql.capture() as log:
        seen = env_outcome(learner, as_written=True, nonce=nonce)  # alembic.ini exactly as the learner has it
    actual = seen.get("url")
    if not isinstance(actual, str):
        fail("env.py's online mode did not pass a connection to context.configure(connection=...)")
    try:
        mismatch = url_mismatch(make_url(actual), database_url, said="env.py connected to")
    except Exception:
        mismatch = f"env.py connected to {actual!r}, which is not a database URL"
    if mismatch:
        fail(f"{mismatch}. Read the URL from the environment: " + fix_or_hint(learner, HERE, SET_URL))
    if not any(MARKER + nonce in statement.sql for statement in log):
        fail(
            "Postgres received nothing on the connection env.py made for Alembic: env.py must connect to "
            "DATABASE_URL and hand that connection to context.configure(connection=...). "
            + fix_or_hint(learner, HERE, SET_URL)
        )
    literals = url_literals(learner.source("alembic/env.py"))
    if literals:
        line, value = literals[0]
        fail(
            f"alembic/env.py:{line} contains a connection string ({value!r}). Credentials in source end up "
            'in git: take the URL from os.environ["DATABASE_URL"] only, with no fallback literal'
        )
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(learner.source("alembic.ini"))
    except configparser.Error:
        return  # Alembic itself reports an unreadable alembic.ini
    ini_url = parser.get("alembic", "sqlalchemy.url", fallback="")
    if url_literals(repr(ini_url)):
        line = next(
            (n for n, t in enumerate(learner.source("alembic.ini").splitlines(), 1) if t.startswith("sqlalchemy.url")),
            None,
        )
        fail(
            f"alembic.ini{':' + str(line) if line else ''} holds a real connection string in sqlalchemy.url. "
            "It is committed to git like any other file: keep the placeholder there and let env.py read "
            "DATABASE_URL"
        )


def require_alembic_files(learner) -> None:
    for name, what in (("alembic.ini", "alembic.ini"), ("alembic/env.py", "alembic/env.py")):
        if not (learner.dir / name).is_file():
            fail(f"{what} is missing from your exercise folder: copy it back from the starter ({learner.dir.name})")


@check("single-head", "the revisions form one chain with exactly one head")
def single_head(learner):
    require_alembic_files(learner)
    chain = revision_chain(learner, revision_map)
    if not chain.revisions:
        fail(
            "alembic/versions/ holds no revision yet. With env.py done, generate one with\n"
            f"    {GENERATE}\nthen open the new file and review upgrade() and downgrade()"
        )
    require_readable(chain)
    heads = chain.heads
    if not heads:
        fail("your revisions name each other in a circle (every revision is some other's down_revision): the chain has no head")
    if len(heads) > 1:
        lines = []
        for head in heads:
            revision = chain.get(head)
            down = revision.written if revision is not None else None
            lines.append(f"  - {head} ({revision.path if revision else '?'}), down_revision = {down!r}")
        fail(
            f"your revisions have {len(heads)} heads, so `alembic upgrade head` refuses to run "
            '("Multiple head revisions are present"):\n'
            + "\n".join(lines)
            + "\nEach revision's down_revision must name the revision before it, making one chain: "
            "fix the down_revision of the newer one (or join the branches with `alembic merge heads`)"
        )


@check("upgrade-head", "`alembic upgrade head` builds users and documents on an empty database")
def upgrade_head(learner, db, sql):
    run(learner, sql, "upgrade", "heads")
    found = migrations.table_names(db)
    missing = [t for t in TABLES if t not in found]
    chain = revision_chain(learner, revision_map)
    if missing:
        revisions = chain.revisions
        it = "them" if len(missing) > 1 else "it"
        if not revisions:
            why = f"there is no revision in alembic/versions/ yet. Generate one:\n    {GENERATE}"
        elif all(is_noop(r, "upgrade") for r in revisions):
            why = (
                "your revision's upgrade() is just `pass`. That is how `alembic revision` starts a file "
                "without --autogenerate (which refuses to run while target_metadata is None): fix env.py, "
                "delete the empty revision and generate it again:\n"
                f"    {GENERATE}"
            )
        else:
            why = (
                f"no revision's upgrade() creates {it} "
                f"({', '.join(function_line(r, 'upgrade') for r in revisions)}). The check "
                "`no-drift` shows the operations still missing"
            )
        fail(
            f"after `alembic upgrade head` the database has no {' and no '.join(missing)} table "
            f"(tables found: {', '.join(sorted(found)) or 'none'}): {why}"
        )
    with db.connect() as conn:
        versions = [row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))] if "alembic_version" in found else []
    heads = chain.heads
    if sorted(versions) != sorted(heads):
        fail(f"after `alembic upgrade head`, alembic_version holds {versions}, expected the head {heads}")


@check("no-drift", "at head the database matches models.py (autogenerate finds nothing to do)")
def no_drift(learner, db, sql):
    upgrade_first(learner, sql, db, need_tables=False)
    diffs, code = migrations.compare(db, reference_metadata("course_reference_models_07_migrations", PROVIDED_MODELS))
    if diffs:
        files = ", ".join(r.path for r in revision_chain(learner, revision_map).revisions)
        fix = (
            f"fix the revision ({files}) so that it builds exactly that schema"
            if files
            else "there is no revision yet; generate it (with env.py done, autogenerate drafts exactly what is "
            f"shown below), then review it:\n    {GENERATE}\nWhat is missing"
        )
        message = migrations.drift_message(
            diffs,
            code,
            f"after `alembic upgrade head` the database still differs from models.py "
            f"({len(diffs)} difference{'s' if len(diffs) > 1 else ''}). models.py is the reference (it is "
            f"provided): {fix}:",
        )
        hint = fix_or_hint(learner, HERE, "")
        if hint:  # the untouched starter: the differences, not the migration's code (that is autogenerate's job)
            message = message.split("\n\nThe migration you still need")[0] + f"\n\n{hint}"
        fail(message + models_changed(learner, PROVIDED_MODELS))


@check("downgrade-base", "`alembic downgrade base` removes everything the revisions created")
def downgrade_base(learner, db, sql):
    upgrade_first(learner, sql, db)
    run(learner, sql, "downgrade", "base", doing="after upgrading to head, ")
    found = migrations.table_names(db)
    left = sorted(found - {"alembic_version"})
    with db.connect() as conn:
        sequences = (
            conn.execute(
                text(
                    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE c.relkind = 'S' AND n.nspname = 'public' ORDER BY 1"
                )
            )
            .scalars()
            .all()
        )
        enums = (
            conn.execute(
                text(
                    "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
                    "WHERE t.typtype = 'e' AND n.nspname = 'public' ORDER BY 1"
                )
            )
            .scalars()
            .all()
        )
        versions = conn.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() if "alembic_version" in found else 0
    revisions = revision_chain(learner, revision_map).revisions
    where = ", ".join(function_line(revision, "downgrade") for revision in revisions)
    if left:
        empty = any(is_noop(r, "downgrade") for r in revisions)
        fail(
            f"after `alembic downgrade base` these tables are still there: {', '.join(left)}. "
            f"downgrade() must undo exactly what upgrade() did, in reverse order ({where})"
            + (" — a downgrade() that is just `pass` leaves everything behind" if empty else "")
            + ': op.drop_table("documents"), then op.drop_table("users")'
        )
    if sequences or enums:
        what = ", ".join([f"sequence {s}" for s in sequences] + [f"enum type {e}" for e in enums])
        fail(
            f"after `alembic downgrade base` no table is left, but {what} still exist(s): drop them in "
            f"downgrade() too ({where}), e.g. op.execute('DROP SEQUENCE ...') / sa.Enum(...).drop(op.get_bind())"
        )
    if versions:
        fail("after `alembic downgrade base`, alembic_version still records a revision")


@check("upgrade-again", "after a full downgrade, `alembic upgrade head` works again")
def upgrade_again(learner, db, sql):
    upgrade_first(learner, sql, db)
    first = migrations.table_names(db)
    run(learner, sql, "downgrade", "base", doing="after upgrading to head, ", owner="downgrade-base")
    again = "after `alembic upgrade head` and `alembic downgrade base`, "
    run(learner, sql, "upgrade", "heads", doing=again)
    missing = sorted(first - migrations.table_names(db))
    if missing:
        fail(
            f"the first `alembic upgrade head` created {', '.join(sorted(first))}; after `downgrade base` "
            f"the second one did not create {', '.join(missing)}: upgrade() and downgrade() must be exact "
            "opposites, so that the chain can go down and up again"
        )


@check("revisions-self-contained", "revisions spell out their operations (no imports of models.py)")
def revisions_self_contained(learner):
    revisions = revision_chain(learner, revision_map).revisions
    if not revisions:
        fail(f"alembic/versions/ holds no revision yet: generate one with\n    {GENERATE}")
    own_modules = {p.stem for p in learner.dir.glob("*.py")}
    for revision in revisions:
        if revision.tree is None:
            continue  # the other checks report it, with the line
        for node in ast.walk(revision.tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module.split(".")[0]]
            imported = [n for n in names if n in own_modules]
            called = isinstance(node, ast.Call) and getattr(node.func, "attr", None) in ("create_all", "drop_all")
            if imported or called:
                what = f"imports {imported[0]}.py" if imported else f"calls {node.func.attr}()"  # type: ignore[attr-defined]
                fail(
                    f"{revision.path}:{node.lineno} {what}. A revision is a frozen snapshot of one schema change: it "
                    "must not depend on models.py, which keeps changing. When you rename a column in "
                    "models.py next week, this revision would silently build the new schema and the chain "
                    "breaks. Spell the operations out (op.create_table(...), op.drop_table(...)) — "
                    "autogenerate drafts them for you"
                )
