"""Checks for 02-models: the schema Postgres really gets from the learner's 2.0 models.

Judged apart from the learner's code (docs/authoring.md, "Acts and checks"): one act runs
``Base.metadata.create_all()`` beside it; every other check reads the schema and inserts rows
through the judge's own connection, or reads the learner's files. Only base-is-declarative is
testimony: what class ``Base`` is, only the learner's process can see.
"""

import ast
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import DeclarativeBase

from checker.authoring import act, called_name, check, fail, fix_or_hint, fixture
from checker.authoring.shared import frozen_default, frozen_message

HERE = Path(__file__).parent

STRING_TYPES = {"VARCHAR", "TEXT", "STRING"}
TIMESTAMP_TYPES = {"TIMESTAMP", "DATETIME"}
INTEGER_TYPES = {"INTEGER", "BIGINT"}


# --------------------------------------------------------------------------- acts: in the learner's process


@act
def create_tables(ctx) -> None:
    """Create the learner's tables in the fresh database."""
    base = ctx.learner.require("models", "Base", "class Base(DeclarativeBase)")
    metadata = getattr(base, "metadata", None)
    if metadata is None:
        fail("models.Base has no metadata: define it as `class Base(DeclarativeBase): pass`")
    metadata.create_all(ctx.engine)


@act
def base_kind(ctx) -> dict:
    """What models.Base is: a class, and a DeclarativeBase subclass or not."""
    base = ctx.learner.require("models", "Base", "class Base(DeclarativeBase)")
    return {"declarative": isinstance(base, type) and issubclass(base, DeclarativeBase)}


# --------------------------------------------------------------------------- fixtures and checks: in the judge


@fixture
def tables(learner):
    """The learner's tables, created by their models in the fresh database."""
    learner.run(create_tables)


def model_column(table, learner, class_name, name, **expected):
    """``table.expect_column``, where a missing column is explained as a missing ``Mapped[...]`` attribute."""
    where = learner.where(class_name, name)
    missing = (
        f"create_all() made table `{table.name}` without a column `{name}` (it has: "
        f"{', '.join(table.columns)}) ({where}). A class attribute becomes a column only when it is "
        f"declared with a Mapped[...] annotation in class {class_name}; its SQL type, length and NULL-ability "
        "come from that annotation and from mapped_column(...). "
        + fix_or_hint(learner, HERE, f"Add `{name}: Mapped[...] = mapped_column(...)` to class {class_name}")
    ) if name not in table.columns else ""
    return table.expect_column(name, where, missing=missing, **expected)


def insert(conn, statement: str) -> None:
    """Run the grader's own INSERT; if the learner's schema rejects it, say so as a failure."""
    try:
        conn.execute(text(statement))
    except Exception as error:
        fail(f"the grader could not insert a valid row ({statement}): {str(error).splitlines()[0]}")


@check("base-is-declarative", "Base is a DeclarativeBase subclass", testimony=True)
def base_is_declarative(learner):
    if not learner.run(base_kind)["declarative"]:
        fail(
            f"models.Base is not a subclass of DeclarativeBase ({learner.where('Base')}). "
            "`Base = declarative_base()` is the 1.x spelling; in 2.0 write `class Base(DeclarativeBase): pass`"
        )


@check("users-table", "users: id, email VARCHAR(255) NOT NULL, name VARCHAR(100) NULL")
def users_table(learner, tables, schema):
    users = schema.table("users")
    model_column(users, learner, "User", "email", types={"VARCHAR"}, nullable=False, length=255)
    model_column(users, learner, "User", "name", types={"VARCHAR"}, nullable=True, length=100)


@check("email-unique", "users.email is UNIQUE")
def email_unique(learner, tables, schema):
    users = schema.table("users")
    users.column("email")
    if not users.is_unique("email"):
        fail(
            "users.email has no UNIQUE constraint or unique index, so two users could share an address: "
            f"add unique=True to its mapped_column(...) ({learner.where('User', 'email')})"
        )
    with schema.engine.connect() as conn:
        insert(conn, "INSERT INTO users (id, email, name) VALUES (1, 'same@example.com', 'A')")
        try:
            conn.execute(text("INSERT INTO users (id, email, name) VALUES (2, 'same@example.com', 'B')"))
        except Exception:
            return
        fail("Postgres accepted two users with the same email")


@check("documents-table", "documents: title VARCHAR(200), body text, owner_id, created_at, all NOT NULL")
def documents_table(learner, tables, schema):
    documents = schema.table("documents")
    model_column(documents, learner, "Document", "title", types={"VARCHAR"}, nullable=False, length=200)
    model_column(documents, learner, "Document", "body", types=STRING_TYPES, nullable=False)
    body = documents.column("body")
    if body.length is not None and body.length < 1000:
        fail(
            f"documents.body is {body.type}: a document body must hold long text. A bare Mapped[str] "
            f"(or Text) gives an unbounded column ({learner.where('Document', 'body')})"
        )
    model_column(documents, learner, "Document", "owner_id", types=INTEGER_TYPES, nullable=False)
    model_column(documents, learner, "Document", "created_at", types=TIMESTAMP_TYPES, nullable=False)


@check("owner-foreign-key", "documents.owner_id references users.id")
def owner_foreign_key(learner, tables, schema):
    documents = schema.table("documents")
    documents.column("owner_id")
    fk = documents.foreign_key("owner_id")
    if fk is None:
        fail(
            "documents.owner_id has no FOREIGN KEY: Postgres would accept documents owned by nobody. "
            f'Use mapped_column(ForeignKey("users.id")) ({learner.where("Document", "owner_id")})'
        )
    if fk["referred_table"] != "users" or fk["referred_columns"] != ["id"]:
        fail(f"documents.owner_id references {fk['referred_table']}.{fk['referred_columns']}, expected users.id")


@check("created-at-server-default", "created_at is filled by Postgres (server default now())")
def created_at_server_default(learner, tables, schema):
    documents = schema.table("documents")
    where = learner.where("Document", "created_at")
    if documents.column("created_at").default is None:
        fail(
            "documents.created_at has no default in Postgres. A Python-side default (default=datetime.now) "
            "only applies to inserts made through SQLAlchemy; use server_default=func.now() so the database "
            f"fills it for every INSERT ({where})"
        )
    with schema.engine.begin() as conn:
        constant = frozen_default(conn, "documents", "created_at")
        if constant is not None:
            fail(frozen_message("documents", "created_at", constant, "server_default=func.now()", where))
        insert(conn, "INSERT INTO users (id, email, name) VALUES (1000, 'owner@example.com', 'O')")
        try:
            conn.execute(text("INSERT INTO documents (id, title, body, owner_id) VALUES (1000, 't', 'b', 1000)"))
        except Exception as error:
            fail(f"a plain SQL INSERT without created_at failed: {str(error).splitlines()[0]} ({where})")
        stamp, now = conn.execute(text("SELECT created_at, now() FROM documents WHERE id = 1000")).one()
    if stamp is None:
        fail(f"a plain SQL INSERT left created_at NULL; use server_default=func.now() ({where})")
    if not isinstance(stamp, datetime):
        fail(
            f"created_at came back as {stamp!r} ({type(stamp).__name__}): the column is "
            f"{documents.column('created_at').type}, which holds no time of day. A creation time is a "
            f"timestamp: annotate it Mapped[datetime] (DateTime) ({where})"
        )
    if stamp.tzinfo is None:
        now = now.astimezone(timezone.utc).replace(tzinfo=None)
        stamp = stamp.replace(tzinfo=None)
        # a naive timestamp holds the server's local time; compare loosely against UTC and local
        if not any(abs(stamp - (now + timedelta(hours=h))) < timedelta(hours=1) for h in range(-14, 15)):
            fail(f"created_at was filled with {stamp}, which is not the time of the INSERT ({where})")
    elif abs(stamp - now) > timedelta(minutes=1):
        fail(f"created_at was filled with {stamp}, but the INSERT happened at {now} ({where})")


@check("primary-keys", "id is an auto-incrementing integer primary key on both tables")
def primary_keys(learner, tables, schema):
    for table_name, class_name in (("users", "User"), ("documents", "Document")):
        table = schema.table(table_name)
        where = learner.where(class_name, "id")
        if table.primary_key != ["id"]:
            fail(f"{table_name} must have primary key (id); Postgres has ({', '.join(table.primary_key)}) ({where})")
        if table.column("id").type_name not in INTEGER_TYPES:
            fail(f"{table_name}.id is {table.column('id').type}; expected an integer: Mapped[int] ({where})")
        if not table.column("id").generated:
            fail(
                f"{table_name}.id gets no value from Postgres (no sequence or identity), so inserting a row "
                "without an id fails. `Mapped[int] = mapped_column(primary_key=True)` auto-increments; "
                f"do not set autoincrement=False ({where})"
            )


@check("style-2-0", "2.0 style: Mapped[...] annotations, no Column(...) attributes, no declarative_base()")
def style_2_0(learner):
    tree = learner.tree("models.py")
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and called_name(node) == "declarative_base":
            fail(
                f"models.py:{node.lineno} calls declarative_base(), the 1.x way. "
                "In 2.0: `class Base(DeclarativeBase): pass`"
            )
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        for item in node.body:
            if isinstance(item, ast.Assign | ast.AnnAssign) and isinstance(item.value, ast.Call):
                if called_name(item.value) == "Column":
                    fail(
                        f"models.py:{item.lineno} declares a column with Column(...), the 1.x style. "
                        "In 2.0 annotate it: `name: Mapped[type] = mapped_column(...)`"
                    )
                if isinstance(item, ast.Assign) and called_name(item.value) == "mapped_column":
                    fail(
                        f"models.py:{item.lineno} uses mapped_column(...) without a Mapped[...] annotation; "
                        "write `name: Mapped[type] = mapped_column(...)` so the type drives the column"
                    )
