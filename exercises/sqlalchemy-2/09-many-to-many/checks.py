"""Checks for 09-many-to-many: tags through a plain association table, bookmarks through an
association object.

The schema is read back from Postgres after ``create_all``. Behaviour is judged on the real
database: the grader seeds rows with its own (uncaptured) connection, runs ORM code against the
learner's models on a ``Session`` over the provided ``db.engine`` (so every statement the models
make SQLAlchemy send is captured), then reads the tables back through a separate connection.
"""

import ast
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from checker.authoring import check, database_reason, fail, fix_or_hint, fixture, step
from checker.authoring.shared import configured_models, learner_engine

HERE = Path(__file__).parent
INTEGER_TYPES = {"INTEGER", "BIGINT", "SMALLINT"}
TIMESTAMP_TYPES = {"TIMESTAMP", "DATETIME"}


def unsaved_by_cascade(cls, attribute: str, what: str, where: str) -> str:
    """Why objects appended to ``cls.attribute`` are not saved, when its cascade lacks save-update; else ""."""
    from sqlalchemy import inspect as sa_inspect

    cascade = sa_inspect(cls).relationships[attribute].cascade
    if "save-update" in cascade:
        return ""
    return (
        f"{cls.__name__}.{attribute} cascades {', '.join(sorted(cascade)) or 'nothing'}: without save-update, "
        f"{what} appended to the collection is never put in the session, so it is never inserted. A cascade "
        'string replaces the default ("save-update, merge") rather than adding to it: drop cascade= here '
        f"({where})"
    )


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

USERS = [(1, "ada@example.com", "Ada"), (2, "grace@example.com", "Grace")]
DOCUMENTS = [(10, "Q3 report", 1), (11, "2025 budget", 1), (12, "Handbook", 2)]
TITLES = {doc_id: title for doc_id, title, _ in DOCUMENTS}

EXAMPLES = {
    (
        "Document",
        "tags",
    ): 'tags: Mapped[list["Tag"]] = relationship(secondary=document_tag, back_populates="documents")',
    (
        "Tag",
        "documents",
    ): 'documents: Mapped[list["Document"]] = relationship(secondary=document_tag, back_populates="tags")',
    ("User", "bookmarks"): 'bookmarks: Mapped[list["Bookmark"]] = relationship(back_populates="user")',
    ("Document", "bookmarks"): 'bookmarks: Mapped[list["Bookmark"]] = relationship(back_populates="document")',
    ("Bookmark", "user"): 'user: Mapped["User"] = relationship(back_populates="bookmarks")',
    ("Bookmark", "document"): 'document: Mapped["Document"] = relationship(back_populates="bookmarks")',
}
TAG_WHAT = "an integer id primary key, a unique name String(50), and documents through document_tag"
BOOKMARK_WHAT = (
    "the association object: user_id and document_id (foreign keys, together the primary key), "
    "added_at, note, and the relationships user and document"
)
DOCUMENT_TAG = (
    'document_tag = Table("document_tag", Base.metadata, '
    'Column("document_id", ForeignKey("documents.id"), primary_key=True), '
    'Column("tag_id", ForeignKey("tags.id"), primary_key=True))'
)


# --------------------------------------------------------------------------- fixtures


@fixture
def models(learner):
    """The learner's models, with every mapper configured (relationship errors surface here)."""
    return configured_models(
        learner,
        '. Check that each back_populates="..." names the attribute on the *other* class, that both sides '
        "exist, and that secondary= is given the association Table (or its name)",
    )


@fixture
def tables(models, db):
    models.Base.metadata.create_all(db)


@fixture
def engine(learner):
    """The provided db.engine: not a grader engine, so what the learner's models send is captured."""
    return learner_engine(learner)


# --------------------------------------------------------------------------- helpers


def where_table(learner, table: str) -> str:
    """``models.py:12`` — where the table is declared: ``x = Table("table", ...)`` or a class
    whose ``__tablename__`` is ``table``."""
    try:
        tree = learner.tree("models.py")
    except SyntaxError:
        return "models.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            first = node.args[0]
            if name == "Table" and isinstance(first, ast.Constant) and first.value == table:
                return f"models.py:{node.lineno}"
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if (
                    isinstance(item, ast.Assign | ast.AnnAssign)
                    and isinstance(item.value, ast.Constant)
                    and item.value.value == table
                ):
                    return f"models.py:{node.lineno}"
    return "models.py"


def model(learner, models, name: str, table: str, what: str):
    """The mapped class ``models.name``, mapped to ``table``."""
    cls = getattr(models, name, None)
    if cls is None:
        declare = f'class {name}(Base)` with `__tablename__ = "{table}"'
        fail(f"models.py has no class `{name}`: define `{declare}` — {what}")
    try:
        mapper = inspect(cls)
    except Exception:
        fail(f'models.{name} is not a mapped class: make it a subclass of Base with `__tablename__ = "{table}"`')
    if mapper.local_table.name != table:
        fail(
            f"{name} is mapped to the table `{mapper.local_table.name}`; it must be `{table}`: "
            f'__tablename__ = "{table}" ({learner.where(name)})'
        )
    return cls


def relationship(learner, models, owner: str, attribute: str, *, target: str, collection: bool, secondary: bool | None):
    """The relationship ``owner.attribute``, checked for its target, list-ness and secondary table."""
    cls = getattr(models, owner)
    mapper = inspect(cls)
    where = learner.where(owner, attribute)
    example = EXAMPLES[(owner, attribute)]
    if attribute not in mapper.relationships:
        if attribute in mapper.attrs:
            fail(f"{owner}.{attribute} is a column, not a relationship(): declare `{example}` ({where})")
        fail(f"{owner} has no relationship `{attribute}`: add `{example}` to class {owner} ({where})")
    prop = mapper.relationships[attribute]
    target_class = getattr(models, target)
    if prop.mapper.class_ is not target_class:
        got = prop.mapper.class_.__name__
        if secondary is False and owner in ("User", "Document") and prop.secondary is not None:
            fail(
                f"{owner}.{attribute} goes straight across a secondary table to {got} objects, so a "
                "bookmark's own data (added_at, note) can't be reached from it. A link that carries data is "
                f"navigated *through* its association object: `{example}` ({where})"
            )
        fail(f"{owner}.{attribute} leads to {got} objects, not {target}: `{example}` ({where})")
    if prop.uselist != collection:
        if collection:
            fail(f'{owner}.{attribute} holds a single {target}; it must be a list: Mapped[list["{target}"]] ({where})')
        fail(f'{owner}.{attribute} is a list; a bookmark has one {target.lower()}: Mapped["{target}"] ({where})')
    if secondary is None:
        pass
    elif secondary:
        if prop.secondary is None:
            if prop.direction.name == "ONETOMANY":
                fail(
                    f"{owner}.{attribute} is one-to-many: it follows a foreign key on the `{prop.target.name}` "
                    f"table, so each {target.lower()} can belong to a single {owner.lower()} — tagging a second "
                    "document would take the tag away from the first. Many-to-many needs the association "
                    f"table between them: `{example}` ({where})"
                )
            fail(f"{owner}.{attribute} must go through the association table: `{example}` ({where})")
        if prop.secondary.name != "document_tag":
            fail(f"{owner}.{attribute} goes through the table `{prop.secondary.name}`, not `document_tag` ({where})")
    elif prop.secondary is not None:
        fail(
            f"{owner}.{attribute} uses secondary=: an association *object* is reached with a plain relationship "
            f"to its class (the foreign keys live on the `bookmarks` table): `{example}` ({where})"
        )
    return prop


def tag_links(learner, models):
    model(learner, models, "Tag", "tags", TAG_WHAT)
    relationship(learner, models, "Document", "tags", target="Tag", collection=True, secondary=True)


def tag_links_both(learner, models):
    tag_links(learner, models)
    relationship(learner, models, "Tag", "documents", target="Document", collection=True, secondary=True)


def bookmark_links(learner, models):
    user = inspect(models.User)
    if getattr(models, "Bookmark", None) is None and "bookmarks" in user.relationships:
        prop = user.relationships["bookmarks"]
        if prop.secondary is not None:
            fail(
                f"there is no Bookmark class: User.bookmarks goes across the `{prop.secondary.name}` table "
                f"straight to {prop.mapper.class_.__name__} objects ({learner.where('User', 'bookmarks')}). "
                "That works for a link made of two ids only; a bookmark has data of its own (added_at, note), "
                "and through secondary= there is no object to read it from. Map the link as a class — "
                '`class Bookmark(Base): __tablename__ = "bookmarks"` with its two foreign keys as the primary '
                "key and `user` / `document` relationships — and navigate through it: "
                "user.bookmarks[0].document.title"
            )
    model(learner, models, "Bookmark", "bookmarks", BOOKMARK_WHAT)
    relationship(learner, models, "User", "bookmarks", target="Bookmark", collection=True, secondary=False)
    relationship(learner, models, "Document", "bookmarks", target="Bookmark", collection=True, secondary=False)
    relationship(learner, models, "Bookmark", "user", target="User", collection=False, secondary=False)
    relationship(learner, models, "Bookmark", "document", target="Document", collection=False, secondary=False)


def table_exists(learner, schema, table: str, how: str):
    if not schema.has_table(table):
        found = ", ".join(sorted(schema.table_names())) or "no tables"
        fail(f"create_all() made no table `{table}` (found: {found}): {how}")
    return schema.table(table)


def expect_foreign_key(table, where: str, column: str, referred: str):
    fk = table.foreign_key(column)
    if fk is None:
        fail(
            f"{table.name}.{column} has no FOREIGN KEY: Postgres would accept links to rows that do not exist. "
            f'Use ForeignKey("{referred}.id") ({where})'
        )
    if fk["referred_table"] != referred or fk["referred_columns"] != ["id"]:
        got = f"{fk['referred_table']}.{', '.join(fk['referred_columns'])}"
        fail(f"{table.name}.{column} references {got}; it must reference {referred}.id ({where})")


def expect_pair_key(table, where: str, first: str, second: str, what: str):
    key = table.primary_key
    if set(key) == {first, second} and len(key) == 2:
        return
    if not key:
        fail(
            f"{table.name} has no primary key, so nothing stops the same {what} from being stored twice. "
            f"Make the pair the key: primary_key=True on both {first} and {second} ({where})"
        )
    fail(
        f"{table.name}'s primary key is ({', '.join(key)}); it must be the pair ({first}, {second}). "
        f"{'A key on one column alone allows only one row per value of it; ' if len(key) == 1 else ''}"
        f"mark exactly {first} and {second} primary_key=True ({where})"
    )


def run(conn, statement: str, params: dict | None = None) -> None:
    """The grader's own SQL; if the learner's schema rejects valid data, fail with the reason."""
    try:
        conn.execute(text(statement), params or {})
    except SQLAlchemyError as error:
        fail(f"the grader could not store valid data ({statement.split(' VALUES')[0]}): {database_reason(error)}")


def seed(db, *, tags=(), links=(), bookmarks=()):
    """Users, documents and optionally tags / links / bookmarks, through the grader's connection."""
    with db.begin() as conn:
        for user_id, email, name in USERS:
            run(
                conn,
                "INSERT INTO users (id, email, name) VALUES (:id, :email, :name)",
                {"id": user_id, "email": email, "name": name},
            )
        for doc_id, title, owner in DOCUMENTS:
            run(
                conn,
                "INSERT INTO documents (id, title, body, owner_id) VALUES (:id, :title, 'text', :owner)",
                {"id": doc_id, "title": title, "owner": owner},
            )
        for tag_id, name in tags:
            run(conn, "INSERT INTO tags (id, name) VALUES (:id, :name)", {"id": tag_id, "name": name})
        for doc_id, tag_id in links:
            run(conn, "INSERT INTO document_tag (document_id, tag_id) VALUES (:d, :t)", {"d": doc_id, "t": tag_id})
        for user_id, doc_id, note, added_at in bookmarks:
            run(
                conn,
                "INSERT INTO bookmarks (user_id, document_id, note, added_at) VALUES (:u, :d, :note, :at)",
                {"u": user_id, "d": doc_id, "note": note, "at": added_at},
            )
        for table in ("users", "documents") + (("tags",) if tags else ()):
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 1) FROM {table}))"
                )
            )


def fetch(db, statement: str) -> list[tuple]:
    with db.connect() as conn:
        return [tuple(row) for row in conn.execute(text(statement))]


def link_rows(db) -> set[tuple[int, int]]:
    return set(fetch(db, "SELECT document_id, tag_id FROM document_tag"))


def tag_rows(db) -> dict[int, str]:
    return dict(fetch(db, "SELECT id, name FROM tags"))


def tag_names(tags) -> list[str]:
    return sorted(tag.name for tag in tags)


# --------------------------------------------------------------------------- schema checks


@check("document-tag-table", "document_tag: document_id + tag_id, the pair as primary key, foreign keys to both")
def document_tag_table(learner, tables, schema, db):
    where = where_table(learner, "document_tag")
    table = table_exists(
        learner, schema, "document_tag",
        "a document has many tags and a tag many documents, and neither table can hold a list of the other's "
        "ids: the links live in an association table of their own, one row per (document, tag) pair, declared "
        "as a plain Table on Base.metadata (no class: it holds nothing but the two foreign keys). "
        + fix_or_hint(learner, HERE, f"Declare `{DOCUMENT_TAG}`"),
    )
    for name in ("document_id", "tag_id"):
        table.column(name)
    expect_pair_key(table, where, "document_id", "tag_id", "tag on the same document")
    for name in ("document_id", "tag_id"):
        table.expect_column(name, where, types=INTEGER_TYPES, nullable=False)
    expect_foreign_key(table, where, "document_id", "documents")
    expect_foreign_key(table, where, "tag_id", "tags")
    seed(db, tags=[(1, "finance")], links=[(10, 1)])
    with db.connect() as conn:
        try:
            conn.execute(text("INSERT INTO document_tag (document_id, tag_id) VALUES (10, 1)"))
        except IntegrityError:
            conn.rollback()
        else:
            fail(f"Postgres accepted the link (document 10, tag 1) twice: the pair must be the primary key ({where})")


@check("tags-table", "tags: id primary key, name VARCHAR(50) NOT NULL")
def tags_table(learner, models, tables, schema):
    model(learner, models, "Tag", "tags", TAG_WHAT)
    table = table_exists(learner, schema, "tags", 'class Tag(Base) with __tablename__ = "tags"')
    where = learner.where("Tag", "id")
    if table.primary_key != ["id"]:
        fail(f"tags must have the primary key (id); Postgres has ({', '.join(table.primary_key)}) ({where})")
    table.expect_column("id", where, types=INTEGER_TYPES, nullable=False)
    if not table.column("id").generated:
        fail(f"tags.id gets no value from Postgres: `id: Mapped[int] = mapped_column(primary_key=True)` ({where})")
    table.expect_column("name", learner.where("Tag", "name"), types={"VARCHAR"}, nullable=False, length=50)


@check("tag-name-unique", "tags.name is UNIQUE: Postgres rejects a second tag with the same name")
def tag_name_unique(learner, models, tables, schema, engine):
    Tag = model(learner, models, "Tag", "tags", TAG_WHAT)
    where = learner.where("Tag", "name")
    table = table_exists(learner, schema, "tags", 'class Tag(Base) with __tablename__ = "tags"')
    table.column("name")
    with step("storing Tag(name='finance')", where), Session(engine) as session:
        session.add(Tag(name="finance"))
        session.commit()
    with step("storing a second Tag(name='finance')", where), Session(engine) as session:
        session.add(Tag(name="finance"))
        try:
            session.commit()
        except IntegrityError as error:
            if "unique" not in database_reason(error).lower() and "duplicate" not in database_reason(error).lower():
                fail(f"the second tag 'finance' was rejected, but not as a duplicate: {database_reason(error)}")
        else:
            fail(
                "Postgres stored a second Tag(name='finance'): tags.name has no UNIQUE constraint. Tags are "
                "meant to be shared — attach the existing Tag object to the next document — and only the "
                "database can guarantee there is never a second row with the same name, whoever inserts it. "
                f"Add unique=True: `name: Mapped[str] = mapped_column(String(50), unique=True)` ({where})"
            )
    if not table.is_unique("name"):
        fail(f"tags.name must carry a UNIQUE constraint (or a unique index) on that column alone ({where})")


@check(
    "bookmarks-table",
    "bookmarks: (user_id, document_id) primary key with foreign keys, added_at NOT NULL, note VARCHAR(200) NULL",
)
def bookmarks_table(learner, tables, schema):
    where = where_table(learner, "bookmarks")
    table = table_exists(
        learner,
        schema,
        "bookmarks",
        'map the association object: class Bookmark(Base) with __tablename__ = "bookmarks"',
    )

    def at(attribute: str) -> str:
        return learner.where("Bookmark", attribute) if getattr(learner.models, "Bookmark", None) else where

    for name in ("user_id", "document_id"):
        table.column(name)
    expect_pair_key(table, where, "user_id", "document_id", "bookmark (user, document)")
    for name in ("user_id", "document_id"):
        table.expect_column(name, at(name), types=INTEGER_TYPES, nullable=False)
    expect_foreign_key(table, at("user_id"), "user_id", "users")
    expect_foreign_key(table, at("document_id"), "document_id", "documents")
    table.expect_column("added_at", at("added_at"), types=TIMESTAMP_TYPES, nullable=False)
    table.expect_column("note", at("note"), types={"VARCHAR"}, nullable=True, length=200)


@check("bookmark-added-at", "bookmarks.added_at is filled by Postgres (server default now())")
def bookmark_added_at(learner, models, tables, schema, db, engine):
    table = table_exists(learner, schema, "bookmarks", 'class Bookmark(Base) with __tablename__ = "bookmarks"')
    table.column("added_at")
    where = (
        learner.where("Bookmark", "added_at")
        if getattr(models, "Bookmark", None)
        else where_table(learner, "bookmarks")
    )
    seed(db)
    with db.connect() as conn:
        constant = frozen_default(conn, "bookmarks", "added_at")
        if constant is not None:
            fail(frozen_message("bookmarks", "added_at", constant, "server_default=func.now()", where))
        try:
            conn.execute(text("INSERT INTO bookmarks (user_id, document_id) VALUES (1, 10)"))
        except IntegrityError as error:
            fail(
                "a plain SQL `INSERT INTO bookmarks (user_id, document_id) VALUES (1, 10)` failed: "
                f"{database_reason(error)}. Postgres has no default for added_at — a Python-side default "
                "(default=datetime.now / func.now()) is applied only to inserts made through SQLAlchemy. "
                f"Let the database fill it: mapped_column(server_default=func.now()) ({where})"
            )
        stamp, lag = conn.execute(
            text("SELECT added_at, extract(epoch FROM now() - added_at::timestamptz) FROM bookmarks")
        ).one()
        conn.rollback()
    if stamp is None:
        fail(f"a plain SQL INSERT left bookmarks.added_at NULL: use server_default=func.now() ({where})")
    if abs(float(lag)) > 120:
        fail(
            f"Postgres filled added_at with {stamp}, which is not the time of the INSERT: "
            f"use server_default=func.now() ({where})"
        )

    Bookmark = model(learner, models, "Bookmark", "bookmarks", BOOKMARK_WHAT)
    with (
        step("storing Bookmark(user_id=2, document_id=11, note=...) and reading bookmark.added_at", where),
        Session(engine) as session,
    ):
        bookmark = Bookmark(user_id=2, document_id=11, note="Check the numbers")
        session.add(bookmark)
        session.commit()
        value = bookmark.added_at
    if not isinstance(value, datetime):
        fail(f"after committing a Bookmark, bookmark.added_at is {value!r}, not the datetime Postgres stored ({where})")


# --------------------------------------------------------------------------- tags


@check(
    "append-writes-one-link",
    "appending a tag to document.tags writes one document_tag row; removing it deletes only the link",
)
def append_writes_one_link(learner, models, tables, db, engine, sql):
    tag_links(learner, models)
    Document, Tag = models.Document, models.Tag
    seed(db)
    where = learner.where("Document", "tags")
    with step("appending tags to a document, committing, removing one", where), Session(engine) as session:
        report = session.get(Document, 10)
        with sql.capture() as log:
            report.tags.append(Tag(name="finance"))
            session.commit()
        links, new_tags = log.of_kind("INSERT", "document_tag"), log.of_kind("INSERT", "tags")
        if len(new_tags) != 1:
            sql.flag(new_tags, "INSERT INTO tags")
            why = unsaved_by_cascade(Document, "tags", "a new Tag", where) if not new_tags else ""
            fail(
                f"committing `report.tags.append(Tag(name='finance'))` sent {len(new_tags)} INSERTs into tags; "
                "one new Tag is one row" + (f". {why}" if why else "")
            )
        if len(links) != 1 or sum(s.rows for s in links) != 1:
            sql.flag(links or log.data_statements, "expected: one INSERT INTO document_tag")
            fail(
                f"committing `report.tags.append(Tag(name='finance'))` sent {len(links)} INSERT(s) into document_tag "
                f"carrying {sum(s.rows for s in links)} row(s); one link is one row (statements below). Document.tags "
                f"writes the association table by itself when it is declared with secondary=document_tag ({where})"
            )
        finance_id = session.scalar(select(Tag.id).where(Tag.name == "finance"))
        if link_rows(db) != {(10, finance_id)}:
            fail(f"after the commit document_tag holds {sorted(link_rows(db))}; expected one row (10, {finance_id})")

        q3 = Tag(name="q3")
        session.add(q3)
        session.commit()
        with sql.capture() as log:
            report.tags.append(q3)
            session.commit()
        links, new_tags = log.of_kind("INSERT", "document_tag"), log.of_kind("INSERT", "tags")
        if new_tags or len(links) != 1 or sum(s.rows for s in links) != 1:
            sql.flag(new_tags + links, "")
            fail(
                f"appending an already stored tag sent {len(new_tags)} INSERT(s) into tags and {len(links)} into "
                "document_tag; it must write just the one link row"
            )

        q3_id = q3.id
        finance = session.get(Tag, finance_id)
        with sql.capture() as log:
            report.tags.remove(finance)
            session.commit()
        dropped = log.of_kind("DELETE", "tags")
        if dropped:
            sql.flag(dropped, "the tag itself was deleted")
            fail(
                "`report.tags.remove(tag)` and a commit deleted the tag itself (marked below), not only its "
                "document_tag row. A tag lives on its own and other documents may use it. A delete / "
                "delete-orphan cascade is for children that can't exist without their parent, not for a "
                f"many-to-many: remove cascade= (and single_parent=) from Document.tags ({where})"
            )
    remaining_links, remaining_tags = link_rows(db), tag_rows(db)
    if remaining_links != {(10, q3_id)}:
        fail(
            f"after `report.tags.remove(finance)` and a commit, document_tag holds {sorted(remaining_links)}; only "
            f"the (10, {finance_id}) link should be gone"
        )
    if sorted(remaining_tags.values()) != ["finance", "q3"]:
        fail(f"after removing a link the tags table holds {sorted(remaining_tags.values())}; both tags must stay")


@check("shared-tag-one-row", "two documents tagged with the same Tag: one row in tags, two in document_tag")
def shared_tag_one_row(learner, models, tables, db, schema, engine):
    model(learner, models, "Tag", "tags", TAG_WHAT)
    # any shape of Document.tags is run: what goes wrong is shown, not only the missing secondary=
    prop = relationship(learner, models, "Document", "tags", target="Tag", collection=True, secondary=None)
    Document, Tag = models.Document, models.Tag
    seed(db)
    where = learner.where("Document", "tags")
    with step("tagging two documents with the same Tag object", where), Session(engine) as session:
        report, budget = session.get(Document, 10), session.get(Document, 11)
        finance = Tag(name="finance")
        report.tags.append(finance)
        budget.tags.append(finance)
        try:
            session.commit()
        except IntegrityError as error:
            fail(
                "tagging two documents with the same Tag object failed: "
                f"{database_reason(error)}. One tag must be able to label many documents: document_tag's "
                f"primary key is the *pair* (document_id, tag_id) ({where_table(learner, 'document_tag')})"
            )
    with step("reading document.tags back", where), Session(engine) as session:
        names = {doc_id: tag_names(session.get(Document, doc_id).tags) for doc_id in (10, 11)}
    if names[10] != ["finance"] and names[11] == ["finance"] and prop.secondary is None:
        fail(
            "`report.tags.append(finance)` then `budget.tags.append(finance)`, committed: read back, "
            f"report.tags is {names[10]} and budget.tags is {names[11]} — tagging the second document took the "
            f"tag away from the first. Document.tags follows a foreign key on the `{prop.target.name}` table, "
            "and one column holds one document: that is one-to-many. A tag shared by many documents needs the "
            "association table: `document_tag` with both foreign keys, and "
            f"`{EXAMPLES[('Document', 'tags')]}` ({where})"
        )
    for doc_id in (10, 11):
        if names[doc_id] != ["finance"]:
            fail(
                f"read back in a new session, document {doc_id}.tags is {names[doc_id]}; expected ['finance'] ({where})"
            )
    tags = tag_rows(db)
    if len(tags) != 1:
        fail(
            f"one Tag object attached to two documents left {len(tags)} rows in tags "
            f"({sorted(tags.values())}); expected 1"
        )
    (tag_id,) = tags
    if not schema.has_table("document_tag"):
        fail(f"there is no document_tag table: declare `{DOCUMENT_TAG}` and use it as secondary= ({where})")
    links = link_rows(db)
    if links != {(10, tag_id), (11, tag_id)}:
        fail(
            f"after tagging documents 10 and 11 with the same tag (id {tag_id}), document_tag holds {sorted(links)}; "
            f"expected the two rows (10, {tag_id}) and (11, {tag_id}) ({where})"
        )

    # the lesson's get-or-create: look the tag up, attach the same row to a third document
    with step("attaching the looked-up tag to a third document", where), Session(engine) as session:
        finance = session.scalars(select(Tag).where(Tag.name == "finance")).one()
        handbook = session.get(Document, 12)
        handbook.tags.append(finance)
        session.commit()
    if len(tag_rows(db)) != 1 or len(link_rows(db)) != 3:
        fail(
            f"attaching the looked-up 'finance' tag to a third document left {len(tag_rows(db))} row(s) in tags "
            f"and {len(link_rows(db))} in document_tag; expected 1 and 3"
        )


@check("tags-both-ways", "document.tags lists a document's tags; tag.documents lists a tag's documents")
def tags_both_ways(learner, models, tables, db, engine):
    tag_links_both(learner, models)
    Document, Tag = models.Document, models.Tag
    seed(db, tags=[(1, "finance"), (2, "draft"), (3, "q3")], links=[(10, 1), (10, 3), (11, 1), (11, 2)])
    expected_tags = {10: ["finance", "q3"], 11: ["draft", "finance"], 12: []}
    expected_docs = {1: ["2025 budget", "Q3 report"], 2: ["2025 budget"], 3: ["Q3 report"]}
    with step("reading document.tags", learner.where("Document", "tags")), Session(engine) as session:
        for doc_id, want in expected_tags.items():
            got = tag_names(session.get(Document, doc_id).tags)
            if got != want:
                fail(
                    f"document {doc_id}.tags is {got}; document_tag links it to {want}. "
                    f"({learner.where('Document', 'tags')})"
                )
    with step("reading tag.documents", learner.where("Tag", "documents")), Session(engine) as session:
        for tag_id, want in expected_docs.items():
            tag = session.get(Tag, tag_id)
            got = sorted(d.title for d in tag.documents)
            if got != want:
                fail(
                    f"tag '{tag.name}'.documents is {got}; document_tag links it to {want} "
                    f"({learner.where('Tag', 'documents')})"
                )


@check("tags-in-sync", "appending on one side updates the other in memory, before a flush (back_populates)")
def tags_in_sync(learner, models, tables, db, engine):
    tag_links_both(learner, models)
    Document, Tag = models.Document, models.Tag
    seed(db)
    where = learner.where("Document", "tags")
    with step("`doc.tags.append(tag)` on new objects", where):
        draft = Document(title="Draft", body="text", owner_id=1)
        finance, q3 = Tag(name="finance"), Tag(name="q3")
        draft.tags.append(finance)
    if draft not in finance.documents:
        fail(
            "after `doc.tags.append(tag)`, tag.documents does not contain the document. Without back_populates "
            "Document.tags and Tag.documents are two unrelated relationships over the same table: each is filled "
            "only by a flush and a reload, and both may try to write the same link row. Name each other: "
            'back_populates="documents" on Document.tags and back_populates="tags" on Tag.documents '
            f"({where})"
        )
    with step("`tag.documents.append(doc)` on new objects", learner.where("Tag", "documents")):
        q3.documents.append(draft)
    if q3 not in draft.tags:
        fail(
            "after `tag.documents.append(doc)`, doc.tags does not contain the tag: add "
            f'back_populates="tags" to Tag.documents ({learner.where("Tag", "documents")})'
        )
    with step("saving a document linked to two tags", where), Session(engine) as session:
        session.add(draft)
        try:
            session.commit()
        except IntegrityError as error:
            fail(f"saving a document linked from both sides failed: {database_reason(error)} ({where})")
        doc_id = draft.id
    links = link_rows(db)
    if len(links) != 2 or {d for d, _ in links} != {doc_id}:
        fail(
            f"a document with two tags, linked from both sides, left document_tag holding {sorted(links)}; "
            "expected 2 rows"
        )


# --------------------------------------------------------------------------- bookmarks


@check("bookmark-navigation", "user.bookmarks -> Bookmark -> .document, and document.bookmarks -> .user")
def bookmark_navigation(learner, models, tables, db, engine):
    bookmark_links(learner, models)
    User, Document = models.User, models.Document
    monday = datetime(2024, 9, 2, 9, 30)
    seed(
        db,
        bookmarks=[
            (1, 10, "Re-read before the board meeting", monday),
            (1, 12, None, monday + timedelta(days=1)),
            (2, 10, "Check the numbers", monday + timedelta(days=2)),
        ],
    )
    with (
        step("reading user.bookmarks and each bookmark's document", learner.where("User", "bookmarks")),
        Session(engine) as session,
    ):
        ada = session.get(User, 1)
        got = sorted((b.document.title, b.note, b.added_at.replace(tzinfo=None)) for b in ada.bookmarks)
        want = [
            ("Handbook", None, monday + timedelta(days=1)),
            ("Q3 report", "Re-read before the board meeting", monday),
        ]
        if got != want:
            fail(
                "user 1's bookmarks, read as (bookmark.document.title, bookmark.note, bookmark.added_at), are "
                f"{got}; the bookmarks table says {want} ({learner.where('User', 'bookmarks')})"
            )
    with (
        step("reading document.bookmarks and each bookmark's user", learner.where("Document", "bookmarks")),
        Session(engine) as session,
    ):
        report = session.get(Document, 10)
        got = sorted((b.user.email, b.note) for b in report.bookmarks)
        want = [("ada@example.com", "Re-read before the board meeting"), ("grace@example.com", "Check the numbers")]
        if got != want:
            fail(
                f"document 10's bookmarks, read as (bookmark.user.email, bookmark.note), are {got}; expected {want} "
                f"({learner.where('Document', 'bookmarks')})"
            )
        handbook = session.get(Document, 12)
        if [b.user.email for b in handbook.bookmarks] != ["ada@example.com"]:
            fail(
                f"document 12's bookmarks lead to {[b.user.email for b in handbook.bookmarks]}; "
                "expected ['ada@example.com']"
            )


@check(
    "bookmarks-in-sync", "a new Bookmark shows up in user.bookmarks and document.bookmarks at once, and saves with them"
)
def bookmarks_in_sync(learner, models, tables, db, engine):
    bookmark_links(learner, models)
    User, Document, Bookmark = models.User, models.Document, models.Bookmark
    seed(db)
    with step("`Bookmark(user=ana, document=report, note=...)` on new objects", learner.where("Bookmark")):
        ana = User(email="ana@example.com", name="Ana")
        report = Document(title="Ana's report", body="text", owner=ana)
        handbook = Document(title="Ana's handbook", body="text", owner=ana)
        first = Bookmark(user=ana, document=report, note="Re-read")
    if first not in ana.bookmarks:
        fail(
            "after `Bookmark(user=ana, document=report)`, ana.bookmarks does not contain it. Without "
            "back_populates, Bookmark.user and User.bookmarks are two unrelated relationships over the same "
            "foreign key: the collection only learns about the new bookmark after a flush and a reload. Name each "
            'other: back_populates="bookmarks" on Bookmark.user and back_populates="user" on User.bookmarks '
            f"({learner.where('Bookmark', 'user')})"
        )
    if first not in report.bookmarks:
        fail(
            "after `Bookmark(user=ana, document=report)`, report.bookmarks does not contain it: "
            'back_populates="bookmarks" on Bookmark.document and back_populates="document" on '
            f"Document.bookmarks ({learner.where('Bookmark', 'document')})"
        )
    with step("`user.bookmarks.append(b)` and `document.bookmarks.append(b)`", learner.where("User", "bookmarks")):
        second = Bookmark(note="Skim")
        ana.bookmarks.append(second)
        handbook.bookmarks.append(second)
    if second.user is not ana or second.document is not handbook:
        fail(
            "after `user.bookmarks.append(b)` and `document.bookmarks.append(b)`, b.user / b.document are not set: "
            "back_populates on User.bookmarks and Document.bookmarks must name Bookmark.user and Bookmark.document "
            f"({learner.where('User', 'bookmarks')})"
        )
    with (
        step("saving a new user with two bookmarks (session.add(user); commit)", learner.where("Bookmark")),
        Session(engine) as session,
    ):
        session.add(ana)
        session.commit()
        user_id = ana.id
    rows = fetch(
        db,
        "SELECT d.title, b.note, b.added_at FROM bookmarks b JOIN documents d ON d.id = b.document_id "
        f"WHERE b.user_id = {user_id}",
    )
    got = sorted((title, note) for title, note, _ in rows)
    if got != [("Ana's handbook", "Skim"), ("Ana's report", "Re-read")]:
        fail(f"after adding the user and committing, the bookmarks table holds {got} for them; expected both bookmarks")
    if any(added_at is None for _, _, added_at in rows):
        fail("bookmarks saved through the ORM have no added_at: server_default=func.now()")
    with (
        step("`user.bookmarks.append(Bookmark(document_id=..., note=...))` on a stored user; commit", learner.where("User", "bookmarks")),
        Session(engine) as session,
    ):
        grace = session.get(User, 2)
        grace.bookmarks.append(Bookmark(document_id=11, note="Budget questions"))
        session.commit()
    if not fetch(db, "SELECT note FROM bookmarks WHERE user_id = 2 AND document_id = 11"):
        fail(
            "a Bookmark appended to user.bookmarks of a stored user was not saved by the commit. "
            + (unsaved_by_cascade(User, "bookmarks", "a Bookmark", learner.where("User", "bookmarks")) or "")
        )
