"""Checks for 07-migrations: env.py wired to the models and DATABASE_URL, a reviewed first revision.

Alembic runs in this process, exactly as the `alembic` command would: a Config made from the
learner's `alembic.ini`, then `alembic.command.upgrade/downgrade`, which execute the learner's
`alembic/env.py` and revision files. The learner's engine (made in env.py) is captured like any
learner engine, so a failing check shows the DDL the migrations sent.

In the spirit of pytest-alembic: a single head; `upgrade` on an empty database; no drift between
the models and the migrated database; `downgrade base` leaves nothing behind; up again works.

Isolation: every check except `env-url-from-env` passes DATABASE_URL to Alembic's config itself
(as pytest-alembic passes its own connection), so a missing URL line in env.py fails that one
check instead of all of them. `env-url-from-env` runs env.py with alembic.ini exactly as written.
"""

from __future__ import annotations

import ast
import configparser
from pathlib import Path

from sqlalchemy import text

from checker.authoring import check, fail, fix_or_hint, fixture, migrations, url_literals
from checker.authoring.shared import url_mismatch

HERE = Path(__file__).parent
TABLES = ("users", "documents")
GENERATE = 'course exec 07-migrations -- alembic revision --autogenerate -m "create users and documents"'


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
"""``migrate.run(...)``, ``migrate.explain(...)``, ``migrate.script_directory(...)`` with this advice."""


# -- running Alembic ---------------------------------------------------------------------------


fixture(migrations.alembic_cfg)  # the learner's alembic.ini, with DATABASE_URL passed by the grader


def revision_files(learner) -> list[Path]:
    versions = learner.dir / "alembic" / "versions"
    return sorted(versions.glob("*.py")) if versions.is_dir() else []


def upgrade_first(learner, sql, db, config, *, need_tables: bool = True) -> None:
    """Upgrade an empty database to head (all heads); with ``need_tables``, insist it built something."""
    migrate.run(learner, sql, config, "upgrade", "heads", doing="on an empty database, ", owner="upgrade-head")
    if need_tables and not migrations.table_names(db) - {"alembic_version"}:
        fail(
            "`alembic upgrade head` created no table, so there is nothing to downgrade yet: "
            "see the check `upgrade-head`"
        )


SET_URL = 'config.set_main_option("sqlalchemy.url", os.environ["DATABASE_URL"])'


def run_env(learner, config, sql) -> dict:
    """Run env.py the way every Alembic command does, and record what it configured. On the untouched
    starter a failure names what to do, not the line to write (that is the hint's)."""
    from checker.authoring import CheckFailed

    try:
        with sql.paused():  # Alembic's bookkeeping SQL says nothing about env.py
            return _run_env(learner, config)
    except CheckFailed as failed:
        hint = fix_or_hint(learner, HERE, "")
        if hint and SET_URL in str(failed):
            fail(str(failed).replace(SET_URL, f'os.environ["DATABASE_URL"] handed to Alembic\'s config. {hint}'))
        raise


def _run_env(learner, config) -> dict:
    from alembic.runtime.environment import EnvironmentContext

    script = migrate.script_directory(learner, config)
    seen: dict = {}

    def record(revision, context):
        seen["target_metadata"] = context.opts.get("target_metadata")
        seen["url"] = context.connection.engine.url if context.connection is not None else None
        return []  # migrate nothing

    try:
        with EnvironmentContext(config, script, fn=record):
            script.run_env()
    except Exception as error:
        fail("alembic/env.py failed when Alembic ran it:\n" + migrate.explain(error, learner))
    if "target_metadata" not in seen:
        fail(
            "alembic/env.py ran but never ran the migrations: keep the end of the generated file "
            "(run_migrations_online() calling context.configure(...) and context.run_migrations())"
        )
    return seen


# -- the checks ---------------------------------------------------------------------------------


@check("env-target-metadata", "env.py hands Alembic your models' metadata (target_metadata)")
def env_target_metadata(learner, alembic_cfg, sql):
    seen = run_env(learner, alembic_cfg, sql)
    metadata = seen["target_metadata"]
    line = next(
        (n for n, text_ in enumerate(learner.source("alembic/env.py").splitlines(), 1)
         if text_.startswith("target_metadata")),
        None,
    )
    where = f"alembic/env.py:{line}" if line else "alembic/env.py"
    if metadata is None:
        fail(
            f"target_metadata is None ({where}), so Alembic cannot see your models: `alembic revision "
            "--autogenerate` stops with \"Can't proceed with --autogenerate option\", and a revision made "
            "without --autogenerate starts with an upgrade() that is just `pass`. Alembic learns what the schema "
            "should be from the metadata env.py hands it. "
            + fix_or_hint(learner, HERE, "Add `from models import Base` and set `target_metadata = Base.metadata`; "
                          "then delete any empty revision and generate again")
        )
    candidates = metadata if isinstance(metadata, list | tuple) else [metadata]
    if learner.models.Base.metadata in candidates:
        return
    tables = {name for md in candidates for name in getattr(md, "tables", {})}
    if not set(TABLES) <= tables:
        fail(
            f"target_metadata ({where}) holds the tables {sorted(tables) or 'none'}, not users and documents: "
            "use the metadata of your models, `target_metadata = Base.metadata` with `from models import Base`"
        )


@check("env-url-from-env", "env.py connects to DATABASE_URL, with no URL in the code")
def env_url_from_env(learner, database_url, sql):
    config = migrations.alembic_config(learner)  # alembic.ini exactly as the learner has it
    seen = run_env(learner, config, sql)
    actual = seen["url"]
    if actual is None:
        fail("env.py's online mode did not pass a connection to context.configure(connection=...)")
    mismatch = url_mismatch(actual, database_url, said="env.py connected to")
    if mismatch:
        fail(
            f"{mismatch}. Read the URL from the environment: " + fix_or_hint(learner, HERE, SET_URL)
        )
    literals = url_literals(learner.source("alembic/env.py"))
    if literals:
        line, value = literals[0]
        fail(
            f"alembic/env.py:{line} contains a connection string ({value!r}). Credentials in source end up "
            'in git: take the URL from os.environ["DATABASE_URL"] only, with no fallback literal'
        )
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(learner.dir / "alembic.ini")
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


@check("single-head", "the revisions form one chain with exactly one head")
def single_head(learner, alembic_cfg):
    script = migrate.script_directory(learner, alembic_cfg)
    heads = script.get_heads()
    if not heads:
        fail(
            "alembic/versions/ holds no revision yet. With env.py done, generate one with\n"
            f"    {GENERATE}\nthen open the new file and review upgrade() and downgrade()"
        )
    if len(heads) > 1:
        lines = []
        for head in heads:
            revision = script.get_revision(head)
            down = revision.down_revision
            lines.append(f"  - {head} ({migrations.relative(learner, revision.path)}), down_revision = {down!r}")
        fail(
            f"your revisions have {len(heads)} heads, so `alembic upgrade head` refuses to run "
            "(\"Multiple head revisions are present\"):\n" + "\n".join(lines)
            + "\nEach revision's down_revision must name the revision before it, making one chain: "
            "fix the down_revision of the newer one (or join the branches with `alembic merge heads`)"
        )


@check("upgrade-head", "`alembic upgrade head` builds users and documents on an empty database")
def upgrade_head(learner, alembic_cfg, db, sql):
    migrate.run(learner, sql, alembic_cfg, "upgrade", "heads")
    found = migrations.table_names(db)
    missing = [t for t in TABLES if t not in found]
    if missing:
        script = migrate.script_directory(learner, alembic_cfg)
        revisions = list(script.walk_revisions())
        it = "them" if len(missing) > 1 else "it"
        if not revisions:
            why = f"there is no revision in alembic/versions/ yet. Generate one:\n    {GENERATE}"
        elif all(migrations.is_noop(getattr(r.module, "upgrade", None)) for r in revisions):
            why = (
                "your revision's upgrade() is just `pass`. That is how `alembic revision` starts a file "
                "without --autogenerate (which refuses to run while target_metadata is None): fix env.py, "
                "delete the empty revision and generate it again:\n"
                f"    {GENERATE}"
            )
        else:
            why = (
                f"no revision's upgrade() creates {it} "
                f"({', '.join(migrations.function_line(learner, r, 'upgrade') for r in revisions)}). The check "
                "`no-drift` shows the operations still missing"
            )
        fail(
            f"after `alembic upgrade head` the database has no {' and no '.join(missing)} table "
            f"(tables found: {', '.join(sorted(found)) or 'none'}): {why}"
        )
    with db.connect() as conn:
        versions = [row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))]
    heads = migrate.script_directory(learner, alembic_cfg).get_heads()
    if sorted(versions) != sorted(heads):
        fail(f"after `alembic upgrade head`, alembic_version holds {versions}, expected the head {heads}")


@check("no-drift", "at head the database matches models.py (autogenerate finds nothing to do)")
def no_drift(learner, alembic_cfg, db, sql):
    upgrade_first(learner, sql, db, alembic_cfg, need_tables=False)
    diffs, code = migrations.compare(db, learner.models.Base.metadata)
    if diffs:
        files = ", ".join(migrations.relative(learner, p) for p in revision_files(learner))
        fix = (
            f"fix the revision ({files}) so that it builds exactly that schema" if files else
            "there is no revision yet; generate it (with env.py done, autogenerate drafts exactly what is "
            f"shown below), then review it:\n    {GENERATE}\nWhat is missing"
        )
        message = migrations.drift_message(
            diffs, code,
            f"after `alembic upgrade head` the database still differs from models.py "
            f"({len(diffs)} difference{'s' if len(diffs) > 1 else ''}). models.py is the reference (it is "
            f"provided): {fix}:",
        )
        hint = fix_or_hint(learner, HERE, "")
        if hint:  # the untouched starter: the differences, not the migration's code (that is autogenerate's job)
            message = message.split("\n\nThe migration you still need")[0] + f"\n\n{hint}"
        fail(message)


@check("downgrade-base", "`alembic downgrade base` removes everything the revisions created")
def downgrade_base(learner, alembic_cfg, db, sql):
    upgrade_first(learner, sql, db, alembic_cfg)
    migrate.run(learner, sql, alembic_cfg, "downgrade", "base", doing="after upgrading to head, ")
    left = sorted(migrations.table_names(db) - {"alembic_version"})
    with db.connect() as conn:
        sequences = conn.execute(text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind = 'S' AND n.nspname = 'public' ORDER BY 1"
        )).scalars().all()
        enums = conn.execute(text(
            "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
            "WHERE t.typtype = 'e' AND n.nspname = 'public' ORDER BY 1"
        )).scalars().all()
        versions = conn.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() if (
            "alembic_version" in migrations.table_names(db)) else 0
    script = migrate.script_directory(learner, alembic_cfg)
    where = ", ".join(migrations.function_line(learner, revision, "downgrade") for revision in script.walk_revisions())
    if left:
        empty = any(migrations.is_noop(getattr(r.module, "downgrade", None)) for r in script.walk_revisions())
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
def upgrade_again(learner, alembic_cfg, db, sql):
    upgrade_first(learner, sql, db, alembic_cfg)
    first = migrations.table_names(db)
    migrate.run(
        learner, sql, alembic_cfg, "downgrade", "base", doing="after upgrading to head, ", owner="downgrade-base"
    )
    again = "after `alembic upgrade head` and `alembic downgrade base`, "
    migrate.run(learner, sql, alembic_cfg, "upgrade", "heads", doing=again)
    missing = sorted(first - migrations.table_names(db))
    if missing:
        fail(
            f"the first `alembic upgrade head` created {', '.join(sorted(first))}; after `downgrade base` "
            f"the second one did not create {', '.join(missing)}: upgrade() and downgrade() must be exact "
            "opposites, so that the chain can go down and up again"
        )


@check("revisions-self-contained", "revisions spell out their operations (no imports of models.py)")
def revisions_self_contained(learner):
    files = revision_files(learner)
    if not files:
        fail(f"alembic/versions/ holds no revision yet: generate one with\n    {GENERATE}")
    own_modules = {p.stem for p in learner.dir.glob("*.py")}
    for path in files:
        try:
            tree = ast.parse(path.read_text(), filename=str(path))
        except SyntaxError:
            continue  # the other checks report it, with the line
        where = migrations.relative(learner, path)
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module.split(".")[0]]
            imported = [n for n in names if n in own_modules]
            called = isinstance(node, ast.Call) and getattr(node.func, "attr", None) in ("create_all", "drop_all")
            if imported or called:
                what = f"imports {imported[0]}.py" if imported else f"calls {node.func.attr}()"
                fail(
                    f"{where}:{node.lineno} {what}. A revision is a frozen snapshot of one schema change: it "
                    "must not depend on models.py, which keeps changing. When you rename a column in "
                    "models.py next week, this revision would silently build the new schema and the chain "
                    "breaks. Spell the operations out (op.create_table(...), op.drop_table(...)) — "
                    "autogenerate drafts them for you"
                )
