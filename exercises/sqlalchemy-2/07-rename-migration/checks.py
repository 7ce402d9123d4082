"""Checks for 07-rename-migration: revision 2 renames documents.body to content, keeping the data.

Alembic runs in this process, exactly as the `alembic` command would (the learner's alembic.ini,
env.py and revisions). The heart of it is the data-survival check of pytest-alembic's spirit:
write documents at revision 1, upgrade, read them back from `content` — the only way to catch a
rename written as drop + add, which passes every schema check on an empty database. Then the
same in reverse for the downgrade.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text

from checker.authoring import check, fail, fixture, migrations, starter_untouched

EXERCISE = "07-rename-migration"
HERE = Path(__file__).parent
REVISION_1 = "3f1c2a9b7d10"
GENERATE = f'course exec {EXERCISE} -- alembic revision --autogenerate -m "rename documents body to content"'
DOCUMENTS = [
    ("Memo", "Keep me: the quarterly numbers are in.\nSecond line — ünïcode ✓"),
    ("Long read", "A document long enough to matter. " * 200),
]


def advice(text_: str) -> str | None:
    """What an Alembic error usually means in this exercise."""
    if "contains null values" in text_ and "content" in text_:
        return (
            "add_column(\"content\", nullable=False) on a table that already has rows: that is "
            "autogenerate's draft for a rename (drop body + add content). Even where it runs, dropping "
            "body destroys every document's text. Rename instead: "
            'op.alter_column("documents", "body", new_column_name="content")'
        )
    if "contains null values" in text_ and "body" in text_:
        return (
            "downgrade() re-adds body as a new, empty NOT NULL column: that is autogenerate's draft. "
            'Rename it back instead: op.alter_column("documents", "content", new_column_name="body")'
        )
    if "Can't locate revision" in text_ or "No such revision" in text_ or "is not present" in text_:
        return (
            "A down_revision names a revision id that no file in alembic/versions/ has: revision 2's "
            f'down_revision must be "{REVISION_1}" (check for typos).'
        )
    if 'relation "documents" does not exist' in text_:
        return (
            "revision 2 ran before revision 1 had created the table: it is not chained after it. "
            f'Set its down_revision = "{REVISION_1}".'
        )
    if 'column "body" does not exist' in text_:
        return (
            "the statement expects a body column that is not there (yet, or any more): revision 2 runs "
            f'after revision 1 only if its down_revision is "{REVISION_1}"; and revision 1 must stay as it was.'
        )
    return None


migrate = migrations.Advised(advice)
"""``migrate.run(...)``, ``migrate.explain(...)``, ``migrate.script_directory(...)`` with this advice."""


# -- setting the stage ------------------------------------------------------------------------


fixture(migrations.alembic_cfg)  # the learner's alembic.ini, with DATABASE_URL passed by the grader


def columns(db, table: str = "documents") -> list[str]:
    return [c["name"] for c in inspect(db).get_columns(table)]


def new_revisions(learner, script) -> list:
    return [r for r in script.walk_revisions() if r.revision != REVISION_1]


def where_new(learner, script, name: str) -> str:
    found = new_revisions(learner, script)
    return ", ".join(migrations.function_line(learner, r, name) for r in found) or "your new revision"


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
            "there is no revision after revision 1 yet: a change to the schema is always a new revision on top "
            "of the last one. Bring your dev database to revision 1, generate revision 2, then review it:\n"
            f"    course exec {EXERCISE} -- alembic upgrade head\n    {GENERATE}"
            + (f"\nA hint is available: `course hint {EXERCISE}` (or press h in the app)" if starter_untouched(learner, HERE) else "")
        )


def require_revision_1_intact(learner, sql, db, config) -> None:
    """Upgrade an empty database to revision 1 and make sure it is revision 1 as provided (body)."""
    migrate.run(learner, sql, config, "upgrade", REVISION_1, doing="on an empty database, ")
    found = columns(db) if "documents" in migrations.table_names(db) else []
    if "body" not in found:
        fail(
            f"at revision 1 documents has no body column (it has: {', '.join(found) or 'no table at all'}): "
            "revision 1 was edited. It has already run on every database — production too — so editing it "
            "changes nothing there; a schema change always goes into a new revision. Copy revision 1 back "
            "from the starter and put the rename into revision 2"
        )


def shown(value) -> str:
    return repr(value[:60] + ("…" if len(value) > 60 else "")) if isinstance(value, str) else repr(value)


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
        fail(f"{stage} the grader could not insert a document into documents.{body_column}: {migrations.error_summary(error)}")


def read_back(db, column: str) -> dict[str, str | None]:
    with db.connect() as conn:
        return dict(conn.execute(text(f"SELECT title, {column} FROM documents ORDER BY id")).all())


def lost(found: dict[str, str | None]) -> list[str]:
    return [title for title, body in DOCUMENTS if found.get(title) != body]


# -- the checks ---------------------------------------------------------------------------------


@check("single-head", "the revisions form one chain with exactly one head, past revision 1")
def single_head(learner, alembic_cfg):
    script = migrate.script_directory(learner, alembic_cfg)
    require_new_revision(learner, script)
    heads = script.get_heads()
    if len(heads) > 1:
        lines = []
        for head in heads:
            revision = script.get_revision(head)
            lines.append(
                f"  - {head} ({migrations.relative(learner, revision.path)}), down_revision = {revision.down_revision!r}"
            )
        fail(
            f"your revisions have {len(heads)} heads, so `alembic upgrade head` refuses to run:\n"
            + "\n".join(lines)
            + f'\nRevision 2 continues the chain: its down_revision must be "{REVISION_1}" (revision 1)'
        )


@check("down-revision", "the new revision builds on revision 1 (down_revision = revision 1)")
def down_revision(learner, alembic_cfg):
    script = migrate.script_directory(learner, alembic_cfg)
    require_new_revision(learner, script)
    for revision in new_revisions(learner, script):
        if revision.down_revision is None:
            fail(
                f"{migrations.relative(learner, revision.path)} has down_revision = None: it claims to be a first "
                "revision of its own, beside revision 1, instead of coming after it. Alembic may run it "
                f'before the table even exists. Set down_revision = "{REVISION_1}"'
            )
    bases = script.get_bases()
    if bases != [REVISION_1]:
        fail(f"the chain must start at revision 1 ({REVISION_1}) only; it starts at {bases}")


@check("rename-keeps-data", "text written at revision 1 is in documents.content after `upgrade head`")
def rename_keeps_data(learner, alembic_cfg, db, sql):
    script = migrate.script_directory(learner, alembic_cfg)
    require_new_revision(learner, script)
    require_revision_1_intact(learner, sql, db, alembic_cfg)
    insert_documents(db, "body", "at revision 1,")
    migrate.run(learner, sql, alembic_cfg, "upgrade", "heads", doing="with documents in the table, ")
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
    script = migrate.script_directory(learner, alembic_cfg)
    require_new_revision(learner, script)
    if len(script.get_heads()) > 1:
        fail("your revisions have more than one head, so `alembic downgrade -1` has no single meaning: "
             "fix that first (see the check `single-head`)")
    require_revision_1_intact(learner, sql, db, alembic_cfg)
    migrate.run(learner, sql, alembic_cfg, "upgrade", "heads", doing="on an empty database, ", owner="no-drift")
    if "content" not in columns(db):
        fail("after `alembic upgrade head` documents has no content column, so this can't be tested yet "
             "(see the check `rename-keeps-data`)")
    insert_documents(db, "content", "at head,")
    label = downgrade_label(script)
    migrate.run(learner, sql, alembic_cfg, "downgrade", label,
                doing="with documents in the table, ")
    found_columns = columns(db)
    where = where_new(learner, script, "downgrade")
    if "body" not in found_columns:
        empty = any(migrations.is_noop(getattr(r.module, "downgrade", None)) for r in new_revisions(learner, script))
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
    migrate.run(learner, sql, alembic_cfg, "upgrade", "heads", doing="on an empty database, ")
    diffs, code = migrations.compare(db, learner.models.Base.metadata)
    if not diffs:
        return
    flat = [d for group in diffs for d in (group if isinstance(group, list) else [group])]
    renamed = {d[0] for d in flat if d[0] in ("add_column", "remove_column") and d[2] == "documents"}
    script = migrate.script_directory(learner, alembic_cfg)
    fix = (
        f"fix your new revision ({where_new(learner, script, 'upgrade')})" if new_revisions(learner, script)
        else "revision 2 has still to be written"
    )
    message = migrations.drift_message(
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
    require_new_revision(learner, migrate.script_directory(learner, alembic_cfg))
    migrate.run(learner, sql, alembic_cfg, "upgrade", "heads", doing="on an empty database, ", owner="no-drift")
    migrate.run(learner, sql, alembic_cfg, "downgrade", "base", doing="after upgrading to head, ")
    left = sorted(migrations.table_names(db) - {"alembic_version"})
    if left:
        fail(f"after `alembic downgrade base` these tables are still there: {', '.join(left)}")
    migrate.run(learner, sql, alembic_cfg, "upgrade", "heads", doing="after `alembic downgrade base`, ")
