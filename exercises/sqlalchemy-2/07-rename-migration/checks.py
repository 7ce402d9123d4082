"""Checks for 07-rename-migration: revision 2 renames documents.body to content, keeping the data.

Alembic runs in this process, exactly as the `alembic` command would (the learner's alembic.ini,
env.py and revisions). The heart of it is the data-survival check of pytest-alembic's spirit:
write documents at revision 1, upgrade, read them back from `content` — the only way to catch a
rename written as drop + add, which passes every schema check on an empty database. Then the
same in reverse for the downgrade.
"""

from __future__ import annotations

import ast
import inspect as pyinspect
import io
import textwrap
import traceback
from pathlib import Path

from sqlalchemy import inspect, text

from checker import check, fail, fixture
from checker.harness import learner_traceback

EXERCISE = "07-rename-migration"
REVISION_1 = "3f1c2a9b7d10"
GENERATE = f'course exec {EXERCISE} -- alembic revision --autogenerate -m "rename documents body to content"'
DOCUMENTS = [
    ("Memo", "Keep me: the quarterly numbers are in.\nSecond line — ünïcode ✓"),
    ("Long read", "A document long enough to matter. " * 200),
]


# -- running Alembic ---------------------------------------------------------------------------


def alembic_config(learner, database_url: str | None = None):
    """The learner's alembic.ini as Alembic's Config; with ``database_url``, its URL option set."""
    from alembic.config import Config

    ini = learner.dir / "alembic.ini"
    if not ini.is_file():
        fail(f"alembic.ini is missing from your exercise folder: copy it back from the starter ({EXERCISE})")
    if not (learner.dir / "alembic" / "env.py").is_file():
        fail(f"alembic/env.py is missing (it is provided): copy it back from the starter ({EXERCISE})")
    config = Config(str(ini), stdout=io.StringIO())
    config.set_main_option("script_location", str(learner.dir / "alembic"))
    if database_url is not None:
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def script_directory(learner, config):
    from alembic.script import ScriptDirectory

    try:
        return ScriptDirectory.from_config(config)
    except Exception as error:
        fail("Alembic could not read your revisions in alembic/versions/:\n" + explain(error, learner))


def relative(learner, path) -> str:
    try:
        return str(Path(path).resolve().relative_to(learner.dir))
    except ValueError:
        return str(path)


def function_line(learner, script, name: str) -> str:
    """``alembic/versions/x.py:41`` — where ``name()`` of that revision is defined."""
    function = getattr(script.module, name, None)
    where = relative(learner, script.path)
    code = getattr(function, "__code__", None)
    return f"{where}:{code.co_firstlineno}" if code else where


def error_summary(error: BaseException) -> str:
    """``UndefinedTable: relation "users" does not exist`` (the driver's error, not SQLAlchemy's wrapper)."""
    original = getattr(error, "orig", None)
    shown = original if original is not None else error
    lines = [line for line in str(shown).strip().splitlines() if line.strip()][:3]
    text_ = "\n".join(line[:300] for line in lines)
    return f"{type(shown).__name__}: {text_}" if text_ else type(shown).__name__


def learner_frames(error: BaseException, learner) -> str:
    """The frames in the learner's files; only the revision's own when the error happened there."""
    if isinstance(error, SyntaxError):
        return learner_traceback(error, learner.dir)
    root = str(learner.dir)
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename.startswith(root)]
    in_revisions = [f for f in frames if "/alembic/versions/" in f.filename]
    lines = []
    for frame in (in_revisions or frames)[-4:]:
        lines.append(f"{relative(learner, frame.filename)}:{frame.lineno} in {frame.name}")
        if frame.line:
            lines.append(f"    {frame.line}")
    return "\n".join(lines + [error_summary(error)])


def explain(error: BaseException, learner) -> str:
    """The error, the learner's frames, and what it usually means."""
    text_ = str(error)
    trace = learner_frames(error, learner)
    advice = ""
    if "contains null values" in text_ and "content" in text_:
        advice = (
            "add_column(\"content\", nullable=False) on a table that already has rows: that is "
            "autogenerate's draft for a rename (drop body + add content). Even where it runs, dropping "
            "body destroys every document's text. Rename instead: "
            'op.alter_column("documents", "body", new_column_name="content")'
        )
    elif "contains null values" in text_ and "body" in text_:
        advice = (
            "downgrade() re-adds body as a new, empty NOT NULL column: that is autogenerate's draft. "
            'Rename it back instead: op.alter_column("documents", "content", new_column_name="body")'
        )
    elif "Multiple head revisions" in text_ or "multiple heads" in text_.lower():
        advice = "Your revisions form two branches (two heads): see the check `single-head`."
    elif "Can't locate revision" in text_ or "No such revision" in text_ or "is not present" in text_:
        advice = (
            "A down_revision names a revision id that no file in alembic/versions/ has: revision 2's "
            f'down_revision must be "{REVISION_1}" (check for typos).'
        )
    elif 'relation "documents" does not exist' in text_:
        advice = (
            "revision 2 ran before revision 1 had created the table: it is not chained after it. "
            f'Set its down_revision = "{REVISION_1}".'
        )
    elif 'column "body" does not exist' in text_:
        advice = (
            "the statement expects a body column that is not there (yet, or any more): revision 2 runs "
            f'after revision 1 only if its down_revision is "{REVISION_1}"; and revision 1 must stay as it was.'
        )
    return trace + (f"\n→ {advice}" if advice else "")


def run_alembic(learner, sql, config, verb: str, target: str, *, doing: str = "", owner: str = "") -> None:
    """``alembic <verb> <target>``; a failure names the command, the learner's line and the cause.

    ``owner``: this run only sets the stage, the check named there reports its failure in full.
    """
    from alembic import command

    shown = "head" if target == "heads" else target  # "heads" also works with two heads: see single-head
    with sql.capture() as log:
        try:
            getattr(command, verb)(config, target)
        except Exception as error:
            if log:
                sql.flag(log[-1:], "the statement that failed")
            if owner:
                fail(
                    f"{doing}`alembic {verb} {shown}` fails, so this can't be tested yet "
                    f"(see the check `{owner}`):\n{learner_frames(error, learner)}"
                )
            fail(f"{doing}`alembic {verb} {shown}` failed:\n{explain(error, learner)}")


def table_names(db) -> set[str]:
    return set(inspect(db).get_table_names())


# -- drift, in words and as the migration still needed ------------------------------------------


def compare(db, metadata):
    from alembic.autogenerate import compare_metadata, produce_migrations, render_python_code
    from alembic.runtime.migration import MigrationContext

    with db.connect() as conn:
        # compare_server_default: off in Alembic by default, but the models say Postgres fills
        # created_at with now(); a migration that forgets it is a real mismatch (lesson: gap 2).
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        diffs = compare_metadata(context, metadata)
        code = render_python_code(produce_migrations(context, metadata).upgrade_ops) if diffs else ""
    return diffs, code


def sql_type(type_) -> str:
    """The type as Postgres spells it (`TIMESTAMP WITH TIME ZONE`, not `DATETIME`)."""
    from sqlalchemy.dialects import postgresql

    try:
        return type_.compile(dialect=postgresql.dialect())
    except Exception:
        return str(type_)


def describe(diff) -> str:
    if isinstance(diff, list):  # column modifications come grouped in a list
        return "; ".join(describe(d) for d in diff)
    kind = diff[0]
    if kind == "add_table":
        return f"table `{diff[1].name}` is in models.py, but no revision creates it"
    if kind == "remove_table":
        return f"table `{diff[1].name}` is in the database, but not in models.py"
    if kind == "add_column":
        return f"column `{diff[2]}.{diff[3].name}` is in models.py, but no revision creates it"
    if kind == "remove_column":
        return f"column `{diff[2]}.{diff[3].name}` is in the database, but not in models.py"
    if kind == "modify_nullable":
        _, _, table, column, _, database, model = diff
        said = lambda nullable: "NULL" if nullable else "NOT NULL"  # noqa: E731
        return f"`{table}.{column}` is {said(database)} in the database; models.py says {said(model)}"
    if kind == "modify_type":
        _, _, table, column, _, database, model = diff
        return f"`{table}.{column}` is {sql_type(database)} in the database; models.py says {sql_type(model)}"
    if kind == "modify_default":
        _, _, table, column, _, database, model = diff
        model_default = getattr(model, "arg", model)
        model_text = getattr(model_default, "text", None) or (str(model_default) if model_default is not None else None)
        has = f"has server default {database}" if database else "has no server default"
        return f"`{table}.{column}` {has} in the database; models.py says {model_text or 'none'}"
    if kind in ("add_constraint", "remove_constraint"):
        constraint = diff[1]
        columns = ", ".join(c.name for c in constraint.columns)
        label = "UNIQUE" if type(constraint).__name__ == "UniqueConstraint" else type(constraint).__name__
        where = f"{label} ({columns}) on `{constraint.table.name}`"
        return f"{where} is in models.py but not in the database" if kind == "add_constraint" else (
            f"{where} is in the database but not in models.py"
        )
    if kind in ("add_index", "remove_index"):
        index = diff[1]
        columns = ", ".join(c.name for c in index.columns)
        unique = "unique " if index.unique else ""
        side = "models.py but not in the database" if kind == "add_index" else "the database but not in models.py"
        return f"{unique}index on `{index.table.name}` ({columns}) is in {side}"
    if kind in ("add_fk", "remove_fk"):
        fk = diff[1]
        columns = ", ".join(c.name for c in fk.columns)
        target = ", ".join(e.target_fullname for e in fk.elements)
        side = "models.py but not in the database" if kind == "add_fk" else "the database but not in models.py"
        return f"foreign key `{fk.table.name}`({columns}) → {target} is in {side}"
    return str(diff)


def tidy(code: str) -> str:
    lines = [line for line in code.splitlines() if line.strip() and not line.strip().startswith("# ###")]
    return "\n".join("    " + line.strip() if not line.startswith("    ") else line for line in lines)


def has_default_change(diffs) -> bool:
    flat = [d for group in diffs for d in (group if isinstance(group, list) else [group])]
    return any(d[0] == "modify_default" for d in flat)


def drift_message(diffs, code: str, intro: str) -> str:
    shown = [f"  - {describe(d)}" for d in diffs[:12]]
    if len(diffs) > 12:
        shown.append(f"  - … and {len(diffs) - 12} more")
    note = ""
    if has_default_change(diffs):
        note = (
            "\n(Alembic leaves server defaults out of its comparison unless compare_server_default=True; "
            "the grader turns it on, because without the default Postgres no longer fills the column "
            "and every INSERT that omits it fails.)"
        )
    return (
        f"{intro}\n" + "\n".join(shown) + note
        + "\n\nThe migration you still need (what `alembic revision --autogenerate` would write now):\n"
        + tidy(code)
    )


# -- setting the stage ------------------------------------------------------------------------


@fixture
def alembic_cfg(learner, database_url):
    return alembic_config(learner, database_url)


def columns(db, table: str = "documents") -> list[str]:
    return [c["name"] for c in inspect(db).get_columns(table)]


def new_revisions(learner, script) -> list:
    return [r for r in script.walk_revisions() if r.revision != REVISION_1]


def where_new(learner, script, name: str) -> str:
    found = new_revisions(learner, script)
    return ", ".join(function_line(learner, r, name) for r in found) or "your new revision"


def require_revision_1(learner, script):
    try:
        script.get_revision(REVISION_1)
    except Exception:
        fail(
            f"revision 1 ({REVISION_1}, alembic/versions/{REVISION_1}_create_users_and_documents.py) is gone. "
            "It is provided and has already run on every database: copy it back from the starter"
        )


def require_new_revision(learner, script):
    require_revision_1(learner, script)
    if not new_revisions(learner, script):
        fail(
            "there is no revision after revision 1 yet. Bring your dev database to revision 1, generate "
            "revision 2, then review it:\n"
            f"    course exec {EXERCISE} -- alembic upgrade head\n    {GENERATE}"
        )


def require_revision_1_intact(learner, sql, db, config) -> None:
    """Upgrade an empty database to revision 1 and make sure it is revision 1 as provided (body)."""
    run_alembic(learner, sql, config, "upgrade", REVISION_1, doing="on an empty database, ")
    found = columns(db) if "documents" in table_names(db) else []
    if "body" not in found:
        fail(
            f"at revision 1 documents has no body column (it has: {', '.join(found) or 'no table at all'}): "
            "revision 1 was edited. It has already run on every database — production too — so editing it "
            "changes nothing there; a schema change always goes into a new revision. Copy revision 1 back "
            "from the starter and put the rename into revision 2"
        )


def shown(value) -> str:
    return repr(value[:60] + ("…" if len(value) > 60 else "")) if isinstance(value, str) else repr(value)


def is_noop(function) -> bool:
    """Whether ``function``'s body is only a docstring, comments and ``pass``."""
    try:
        tree = ast.parse(textwrap.dedent(pyinspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):
        return False
    body = tree.body[0].body if tree.body and hasattr(tree.body[0], "body") else []
    return all(
        isinstance(node, ast.Pass) or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
        for node in body
    )


def downgrade_label(script) -> str:
    """`-1` when revision 2 directly follows revision 1 (the usual case), else revision 1's id."""
    heads = script.get_heads()
    if len(heads) == 1 and script.get_revision(heads[0]).down_revision == REVISION_1:
        return "-1"
    return REVISION_1


def insert_documents(db, body_column: str, stage: str) -> None:
    """The grader writes users and documents itself (its engine is never captured)."""
    try:
        with db.begin() as conn:
            owner = conn.execute(
                text("INSERT INTO users (email, name) VALUES ('ada@example.com', 'Ada') RETURNING id")
            ).scalar_one()
            for title, body in DOCUMENTS:
                conn.execute(
                    text(f"INSERT INTO documents (title, {body_column}, owner_id) VALUES (:title, :body, :owner)"),
                    {"title": title, "body": body, "owner": owner},
                )
    except Exception as error:
        fail(f"{stage} the grader could not insert a document into documents.{body_column}: {error_summary(error)}")


def read_back(db, column: str) -> dict[str, str | None]:
    with db.connect() as conn:
        return dict(conn.execute(text(f"SELECT title, {column} FROM documents ORDER BY id")).all())


def lost(found: dict[str, str | None]) -> list[str]:
    return [title for title, body in DOCUMENTS if found.get(title) != body]


# -- the checks ---------------------------------------------------------------------------------


@check("single-head", "the revisions form one chain with exactly one head, past revision 1")
def single_head(learner, alembic_cfg):
    script = script_directory(learner, alembic_cfg)
    require_new_revision(learner, script)
    heads = script.get_heads()
    if len(heads) > 1:
        lines = []
        for head in heads:
            revision = script.get_revision(head)
            lines.append(
                f"  - {head} ({relative(learner, revision.path)}), down_revision = {revision.down_revision!r}"
            )
        fail(
            f"your revisions have {len(heads)} heads, so `alembic upgrade head` refuses to run:\n"
            + "\n".join(lines)
            + f'\nRevision 2 continues the chain: its down_revision must be "{REVISION_1}" (revision 1)'
        )


@check("down-revision", "the new revision builds on revision 1 (down_revision = revision 1)")
def down_revision(learner, alembic_cfg):
    script = script_directory(learner, alembic_cfg)
    require_new_revision(learner, script)
    for revision in new_revisions(learner, script):
        if revision.down_revision is None:
            fail(
                f"{relative(learner, revision.path)} has down_revision = None: it claims to be a first "
                "revision of its own, beside revision 1, instead of coming after it. Alembic may run it "
                f'before the table even exists. Set down_revision = "{REVISION_1}"'
            )
    bases = script.get_bases()
    if bases != [REVISION_1]:
        fail(f"the chain must start at revision 1 ({REVISION_1}) only; it starts at {bases}")


@check("rename-keeps-data", "text written at revision 1 is in documents.content after `upgrade head`")
def rename_keeps_data(learner, alembic_cfg, db, sql):
    script = script_directory(learner, alembic_cfg)
    require_new_revision(learner, script)
    require_revision_1_intact(learner, sql, db, alembic_cfg)
    insert_documents(db, "body", "at revision 1,")
    run_alembic(learner, sql, alembic_cfg, "upgrade", "heads", doing="with documents in the table, ")
    found_columns = columns(db)
    where = where_new(learner, script, "upgrade")
    if "content" not in found_columns:
        extra = [c for c in found_columns if c not in ("id", "title", "body", "owner_id", "created_at")]
        if extra:
            fail(
                f"after `alembic upgrade head` documents has a column {extra[0]!r} but no `content`: "
                f"models.py calls it content ({where})"
            )
        fail(
            f"after `alembic upgrade head` documents has no content column (it has: {', '.join(found_columns)}): "
            f'upgrade() must rename it: op.alter_column("documents", "body", new_column_name="content") ({where})'
        )
    found = read_back(db, "content")
    missing = lost(found)
    if missing:
        title = missing[0]
        fail(
            f"the text written at revision 1 did not survive `alembic upgrade head`: documents.content of "
            f"{title!r} is {shown(found.get(title))}, it was {shown(dict(DOCUMENTS)[title])}. "
            "Autogenerate sees a rename as a column that vanished (body) and one that appeared (content), "
            "so its draft is drop_column + add_column — and the dropped column takes every document's "
            f'text with it. Rewrite upgrade() as op.alter_column("documents", "body", new_column_name="content") '
            f"({where})"
        )


@check("downgrade-restores-body", "`alembic downgrade -1` puts the text back in documents.body")
def downgrade_restores_body(learner, alembic_cfg, db, sql):
    script = script_directory(learner, alembic_cfg)
    require_new_revision(learner, script)
    if len(script.get_heads()) > 1:
        fail("your revisions have more than one head, so `alembic downgrade -1` has no single meaning: "
             "fix that first (see the check `single-head`)")
    require_revision_1_intact(learner, sql, db, alembic_cfg)
    run_alembic(learner, sql, alembic_cfg, "upgrade", "heads", doing="on an empty database, ", owner="no-drift")
    if "content" not in columns(db):
        fail("after `alembic upgrade head` documents has no content column, so this can't be tested yet "
             "(see the check `rename-keeps-data`)")
    insert_documents(db, "content", "at head,")
    label = downgrade_label(script)
    run_alembic(learner, sql, alembic_cfg, "downgrade", label,
                doing="with documents in the table, ")
    found_columns = columns(db)
    where = where_new(learner, script, "downgrade")
    if "body" not in found_columns:
        empty = any(is_noop(getattr(r.module, "downgrade", None)) for r in new_revisions(learner, script))
        fail(
            f"after `alembic downgrade {label}` documents has no body column (it has: {', '.join(found_columns)}): "
            "downgrade() must undo upgrade() and bring back revision 1's schema"
            + (" — yours is just `pass`, so nothing happens" if empty else "")
            + f'. Rename it back: op.alter_column("documents", "content", new_column_name="body") ({where})'
        )
    if "content" in found_columns:
        fail(
            f"after `alembic downgrade {label}` documents has both body and content: the schema of revision 1 "
            f"has no content column ({where})"
        )
    found = read_back(db, "body")
    missing = lost(found)
    if missing:
        title = missing[0]
        fail(
            f"after `alembic downgrade {label}`, documents.body of {title!r} is {shown(found.get(title))}: "
            "the text written at head is gone. A downgrade that drops content and re-adds body loses it, "
            f'exactly like the upgrade would: op.alter_column("documents", "content", new_column_name="body") ({where})'
        )


@check("no-drift", "at head the database matches models.py (autogenerate finds nothing to do)")
def no_drift(learner, alembic_cfg, db, sql):
    run_alembic(learner, sql, alembic_cfg, "upgrade", "heads", doing="on an empty database, ")
    diffs, code = compare(db, learner.models.Base.metadata)
    if not diffs:
        return
    flat = [d for group in diffs for d in (group if isinstance(group, list) else [group])]
    renamed = {d[0] for d in flat if d[0] in ("add_column", "remove_column") and d[2] == "documents"}
    script = script_directory(learner, alembic_cfg)
    fix = (
        f"fix your new revision ({where_new(learner, script, 'upgrade')})" if new_revisions(learner, script)
        else "revision 2 has still to be written"
    )
    message = drift_message(
        diffs, code,
        "after `alembic upgrade head` the database still differs from models.py "
        f"({len(diffs)} difference{'s' if len(diffs) > 1 else ''}). models.py is the reference (it is provided); "
        f"{fix}:",
    )
    if renamed == {"add_column", "remove_column"}:
        message += (
            "\n\nCareful: that is autogenerate's view of a rename — a column that vanished and one that "
            "appeared. Written as drop + add it destroys the data; write it as "
            'op.alter_column("documents", "body", new_column_name="content").'
        )
    fail(message)


@check("round-trip", "upgrade head → downgrade base → upgrade head works on an empty database")
def round_trip(learner, alembic_cfg, db, sql):
    require_new_revision(learner, script_directory(learner, alembic_cfg))
    run_alembic(learner, sql, alembic_cfg, "upgrade", "heads", doing="on an empty database, ", owner="no-drift")
    run_alembic(learner, sql, alembic_cfg, "downgrade", "base", doing="after upgrading to head, ")
    left = sorted(table_names(db) - {"alembic_version"})
    if left:
        fail(f"after `alembic downgrade base` these tables are still there: {', '.join(left)}")
    run_alembic(learner, sql, alembic_cfg, "upgrade", "heads", doing="after `alembic downgrade base`, ")
