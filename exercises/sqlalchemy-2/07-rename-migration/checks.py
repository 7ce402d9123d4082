"""Checks for 07-rename-migration: revision 2 renames documents.body to content, keeping the data.

Judged apart from the learner's code (docs/authoring.md, "Acts and checks"). Alembic runs beside
the learner's code, in the learner's process, exactly as the `alembic` command would (the
learner's alembic.ini, env.py and revisions): the acts below return plain data. Every verdict is
the judge's, from what it sees itself: the chain of revisions read from the learner's files as
text, and the columns and rows through its own connection. The heart of it is the data-survival
check of pytest-alembic's spirit: the judge writes documents at revision 1 (their titles and texts
drawn for this run), upgrades, and reads them back from `content` — the only way to catch a
rename written as drop + add, which passes every schema check on an empty database. Then the same
in reverse for the downgrade. The drift reference is models.py as the exercise provides it.
"""

from __future__ import annotations

import random
import secrets
from pathlib import Path

from sqlalchemy import inspect, text

from checker.authoring import act, check, fail, migrations, module_helpers, starter_untouched
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
)

EXERCISE = "07-rename-migration"
HERE = Path(__file__).parent
PROVIDED_MODELS = HERE / "starter" / "models.py"
"""models.py as this exercise provides it: the reference of the drift comparison."""
REVISION_1 = "3f1c2a9b7d10"
GENERATE = f'course exec {EXERCISE} -- alembic revision --autogenerate -m "rename documents body to content"'
RANDOM = random.SystemRandom()
helpers = module_helpers()
"""The module's shared helpers, for the types of the chain of revisions (``helpers.Chain``, ``helpers.Revision``)."""


def documents() -> list[tuple[str, str]]:
    """Two documents drawn for this run (a short one with non-ASCII text, a long one): no file
    holds their titles or texts, so only the rows the judge wrote can bring them back."""
    token = secrets.token_hex(4)
    return [
        (f"Memo {token}", f"Keep me {secrets.token_hex(6)}: the quarterly numbers are in.\nSecond line — ünïcode ✓"),
        (
            f"Long read {secrets.token_hex(3)}",
            "A document long enough to matter. " * RANDOM.randrange(150, 260) + secrets.token_hex(8),
        ),
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
"""``migrate.explain(...)``, ``migrate.script_directory(...)`` with this advice (in the acts)."""


# --------------------------------------------------------------------------- acts: in the learner's process


@act
def alembic_command(ctx, verb: str, target: str) -> dict:
    """`alembic <verb> <target>` on the run's database, DATABASE_URL passed to Alembic's config:
    ``{}`` when it ran, ``{"error": explained, "frames": the learner's frames}`` or ``{"exited": ...}``."""
    return alembic_in_witness(ctx, migrate, verb, target)


@act
def revision_map(ctx) -> dict:
    """The chain as Alembic reads it, for revisions whose ids are not written as plain strings."""
    return revisions_in_witness(ctx, migrate)


# --------------------------------------------------------------------------- the judge: running Alembic


def run(learner, sql, verb: str, target: str, *, doing: str = "", owner: str = "") -> None:
    """``alembic <verb> <target>`` in the learner's process (see ``run_alembic_command``)."""
    run_alembic_command(learner, sql, alembic_command, verb, target, doing=doing, owner=owner)


# --------------------------------------------------------------------------- setting the stage


def columns(db, table: str = "documents") -> list[str]:
    return [c["name"] for c in inspect(db).get_columns(table)]


def new_revisions(chain: helpers.Chain) -> list[helpers.Revision]:
    return [r for r in chain.revisions if r.revision != REVISION_1]


def where_new(chain: helpers.Chain, name: str) -> str:
    return ", ".join(function_line(r, name) for r in new_revisions(chain)) or "your new revision"


def require_files(learner) -> None:
    for name in ("alembic.ini", "alembic/env.py"):
        if not (learner.dir / name).is_file():
            fail(f"{name} is missing from your exercise folder: copy it back from the starter ({learner.dir.name})")


def require_new_revision(learner) -> helpers.Chain:
    """The chain, with revision 1 in it and at least one revision after it (else a failure that says what to do)."""
    require_files(learner)
    chain = revision_chain(learner, revision_map)
    if chain.unreadable:
        fail("Alembic could not read your revisions in alembic/versions/:\n" + chain.unreadable)
    if chain.get(REVISION_1) is None:
        fail(
            f"revision 1 ({REVISION_1}, alembic/versions/{REVISION_1}_create_users_and_documents.py) is gone. "
            "It is provided and has already run on every database: copy it back from the starter"
        )
    if not new_revisions(chain):
        fail(
            "there is no revision after revision 1 yet: a change to the schema is always a new revision on top "
            "of the last one. Bring your dev database to revision 1, generate revision 2, then review it:\n"
            f"    course exec {EXERCISE} -- alembic upgrade head\n    {GENERATE}"
            + (
                f"\nA hint is available: `course hint {EXERCISE}` (or press h in the app)"
                if starter_untouched(learner, HERE)
                else ""
            )
        )
    return chain


def require_revision_1_intact(learner, sql, db) -> None:
    """Upgrade an empty database to revision 1 and make sure it is revision 1 as provided (body)."""
    run(learner, sql, "upgrade", REVISION_1, doing="on an empty database, ")
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


def downgrade_label(chain: helpers.Chain) -> str:
    """`-1` when revision 2 directly follows revision 1 (the usual case), else revision 1's id."""
    heads = chain.heads
    head = chain.get(heads[0]) if len(heads) == 1 else None
    if head is not None and head.down == (REVISION_1,):
        return "-1"
    return REVISION_1


def insert_documents(db, body_column: str, stage: str, written: list[tuple[str, str]]) -> None:
    """The judge writes a user and the documents itself, through its own connection."""
    try:
        with db.begin() as conn:
            owner = conn.execute(
                text("INSERT INTO users (email, name) VALUES (:email, 'Ada') RETURNING id"),
                {"email": f"ada-{secrets.token_hex(4)}@example.com"},
            ).scalar_one()
            for title, body in written:
                conn.execute(
                    text(f"INSERT INTO documents (title, {body_column}, owner_id) VALUES (:title, :body, :owner)"),
                    {"title": title, "body": body, "owner": owner},
                )
    except Exception as error:
        fail(f"{stage} the grader could not insert a document into documents.{body_column}: {migrations.error_summary(error)}")


def read_back(db, column: str) -> dict[str, str | None]:
    with db.connect() as conn:
        return dict(conn.execute(text(f"SELECT title, {column} FROM documents ORDER BY id")).all())


def lost(found: dict[str, str | None], written: list[tuple[str, str]]) -> list[str]:
    return [title for title, body in written if found.get(title) != body]


# --------------------------------------------------------------------------- the checks


@check("single-head", "the revisions form one chain with exactly one head, past revision 1")
def single_head(learner):
    chain = require_new_revision(learner)
    require_readable(chain)
    heads = chain.heads
    if not heads:
        fail("your revisions name each other in a circle (every revision is some other's down_revision): the chain has no head")
    if len(heads) > 1:
        lines = []
        for head in heads:
            revision = chain.get(head)
            lines.append(
                f"  - {head} ({revision.path if revision else '?'}), down_revision = {revision.written if revision else None!r}"
            )
        fail(
            f"your revisions have {len(heads)} heads, so `alembic upgrade head` refuses to run:\n"
            + "\n".join(lines)
            + f'\nRevision 2 continues the chain: its down_revision must be "{REVISION_1}" (revision 1)'
        )


@check("down-revision", "the new revision builds on revision 1 (down_revision = revision 1)")
def down_revision(learner):
    chain = require_new_revision(learner)
    for revision in new_revisions(chain):
        if revision.down == ():
            fail(
                f"{revision.path} has down_revision = None: it claims to be a first "
                "revision of its own, beside revision 1, instead of coming after it. Alembic may run it "
                f'before the table even exists. Set down_revision = "{REVISION_1}"'
            )
    bases = chain.bases
    if bases != [REVISION_1]:
        fail(f"the chain must start at revision 1 ({REVISION_1}) only; it starts at {bases}")


@check("rename-keeps-data", "text written at revision 1 is in documents.content after `upgrade head`")
def rename_keeps_data(learner, db, sql):
    chain = require_new_revision(learner)
    require_revision_1_intact(learner, sql, db)
    written = documents()
    insert_documents(db, "body", "at revision 1,", written)
    run(learner, sql, "upgrade", "heads", doing="with documents in the table, ")
    found_columns = columns(db)
    where = where_new(chain, "upgrade")
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
    missing = lost(found, written)
    if missing:
        title = missing[0]
        fail(
            f"the text written at revision 1 did not survive `alembic upgrade head`: documents.content of "
            f"{title!r} is {shown(found.get(title))}, it was {shown(dict(written)[title])}. "
            "Autogenerate sees a rename as a column that vanished (body) and one that appeared (content), "
            "so its draft is drop_column + add_column — and the dropped column takes every document's "
            f'text with it. Rewrite upgrade() as op.alter_column("documents", "body", new_column_name="content") '
            f"({where})"
        )


@check("downgrade-restores-body", "`alembic downgrade -1` puts the text back in documents.body")
def downgrade_restores_body(learner, db, sql):
    chain = require_new_revision(learner)
    if len(chain.heads) > 1:
        fail(
            "your revisions have more than one head, so `alembic downgrade -1` has no single meaning: "
            "fix that first (see the check `single-head`)"
        )
    require_revision_1_intact(learner, sql, db)
    run(learner, sql, "upgrade", "heads", doing="on an empty database, ", owner="no-drift")
    if "content" not in columns(db):
        fail(
            "after `alembic upgrade head` documents has no content column, so this can't be tested yet "
            "(see the check `rename-keeps-data`)"
        )
    written = documents()
    insert_documents(db, "content", "at head,", written)
    label = downgrade_label(chain)
    run(learner, sql, "downgrade", label, doing="with documents in the table, ")
    found_columns = columns(db)
    where = where_new(chain, "downgrade")
    if "body" not in found_columns:
        empty = any(is_noop(r, "downgrade") for r in new_revisions(chain))
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
    missing = lost(found, written)
    if missing:
        title = missing[0]
        fail(
            f"after `alembic downgrade {label}`, documents.body of {title!r} is {shown(found.get(title))}: "
            "the text written at head is gone. A downgrade that drops content and re-adds body loses it, "
            f'exactly like the upgrade would: op.alter_column("documents", "content", new_column_name="body") ({where})'
        )


@check("no-drift", "at head the database matches models.py (autogenerate finds nothing to do)")
def no_drift(learner, db, sql):
    run(learner, sql, "upgrade", "heads", doing="on an empty database, ")
    diffs, code = migrations.compare(db, reference_metadata("course_reference_models_07_rename", PROVIDED_MODELS))
    if not diffs:
        return
    flat = [d for group in diffs for d in (group if isinstance(group, list) else [group])]
    renamed = {d[0] for d in flat if d[0] in ("add_column", "remove_column") and d[2] == "documents"}
    chain = revision_chain(learner, revision_map)
    fix = f"fix your new revision ({where_new(chain, 'upgrade')})" if new_revisions(chain) else "revision 2 has still to be written"
    message = migrations.drift_message(
        diffs,
        code,
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
    fail(message + models_changed(learner, PROVIDED_MODELS))


@check("round-trip", "upgrade head → downgrade base → upgrade head works on an empty database")
def round_trip(learner, db, sql):
    require_new_revision(learner)
    run(learner, sql, "upgrade", "heads", doing="on an empty database, ", owner="no-drift")
    tables = migrations.table_names(db) - {"alembic_version"}
    if not {"users", "documents"} <= tables:
        fail(
            f"after `alembic upgrade head` the database has the tables {', '.join(sorted(tables)) or 'none'}, not users "
            "and documents, so the round trip can't be tested yet (see the check `no-drift`)"
        )
    run(learner, sql, "downgrade", "base", doing="after upgrading to head, ")
    left = sorted(migrations.table_names(db) - {"alembic_version"})
    if left:
        fail(f"after `alembic downgrade base` these tables are still there: {', '.join(left)}")
    run(learner, sql, "upgrade", "heads", doing="after `alembic downgrade base`, ")
    missing = sorted(tables - migrations.table_names(db))
    if missing:
        fail(
            f"the first `alembic upgrade head` created {', '.join(sorted(tables))}; after `downgrade base` the second "
            f"one did not create {', '.join(missing)}: upgrade() and downgrade() must be exact opposites"
        )
