"""Checks for 09-many-to-many: tags through a plain association table, bookmarks through an
association object.

Judged apart from the learner's code (docs/authoring.md, "Acts and checks"): the acts below run
beside it, in the learner's process, and return plain data; the checks run in the judge. The
schema is read back from Postgres after ``create_all``. The judge seeds users, documents, tags and
bookmarks through its own connection, with ids, titles and names drawn for this run (no answer
can be written from this file), reads the tables back through its own connection, and reads the
SQL from what Postgres received (the server's statement log). Whether the two sides of a link stay
in sync in memory before a flush (tags-in-sync, bookmarks-in-sync) only the learner's process can
see: those checks are testimony.
"""

import ast
import random
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from checker.authoring import act, check, database_reason, fail, fix_or_hint, fixture, step
from checker.authoring.shared import ask, configured_models, frozen_default, frozen_message

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


RANDOM = random.SystemRandom()
TITLES = ["Q3 report", "2025 budget", "Handbook", "Roadmap", "Minutes", "Pricing", "Glossary", "Onboarding"]
TAG_NAMES = ["finance", "draft", "q3", "legal", "urgent", "hr", "archive", "review"]


def draw() -> dict:
    """This run's users and documents: ids and titles drawn per check (the first two documents
    belong to the first user, the third to the second)."""
    users = RANDOM.sample(range(1, 9_999), 2)
    documents = RANDOM.sample(range(10_000, 99_999), 3)
    titles = [f"{title} {RANDOM.randrange(100, 999)}" for title in RANDOM.sample(TITLES, 3)]
    return {
        "users": [[users[0], f"ada{users[0]}@example.com", "Ada"], [users[1], f"grace{users[1]}@example.com", "Grace"]],
        "documents": [[documents[0], titles[0], users[0]], [documents[1], titles[1], users[0]], [documents[2], titles[2], users[1]]],
    }


def tag_name(taken: tuple[str, ...] = ()) -> str:
    """A tag name drawn for this run."""
    while True:
        name = f"{RANDOM.choice(TAG_NAMES)}-{RANDOM.randrange(100, 999)}"
        if name not in taken:
            return name

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


def seed(db, data: dict, *, tags=(), links=(), bookmarks=()):
    """This run's users, documents and optionally tags / links / bookmarks, through the judge's connection."""
    with db.begin() as conn:
        for user_id, email, name in data["users"]:
            run(
                conn,
                "INSERT INTO users (id, email, name) VALUES (:id, :email, :name)",
                {"id": user_id, "email": email, "name": name},
            )
        for doc_id, title, owner in data["documents"]:
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


# --------------------------------------------------------------------------- acts: in the learner's process


def _models(ctx):
    """The learner's models, with every mapper configured (relationship errors surface here)."""
    return configured_models(
        ctx.learner,
        '. Check that each back_populates="..." names the attribute on the *other* class, that both sides '
        "exist, and that secondary= is given the association Table (or its name)",
    )


def _session(ctx) -> Session:
    """The check's session, kept between its acts (closed by ``close_session``)."""
    if "session" not in ctx.state:
        ctx.state["session"] = Session(ctx.engine)
    return ctx.state["session"]


@act
def create_tables(ctx) -> None:
    _models(ctx).Base.metadata.create_all(ctx.engine, checkfirst=False)  # every check starts on an empty schema


@act
def require_tag(ctx) -> None:
    model(ctx.learner, _models(ctx), "Tag", "tags", TAG_WHAT)


@act
def store_tag(ctx, name: str) -> dict:
    """``Tag(name=name)``, added and committed: the database's refusal, if any."""
    Tag = model(ctx.learner, _models(ctx), "Tag", "tags", TAG_WHAT)
    with step(f"storing Tag(name={name!r})", ctx.learner.where("Tag", "name")), Session(ctx.engine) as session:
        session.add(Tag(name=name))
        try:
            session.commit()
        except IntegrityError as error:
            return {"refused": database_reason(error)}
    return {"refused": None}


@act
def store_bookmark(ctx, user_id: int, document_id: int, note: str) -> dict:
    """A Bookmark stored through the ORM: what bookmark.added_at holds after the commit."""
    Bookmark = model(ctx.learner, _models(ctx), "Bookmark", "bookmarks", BOOKMARK_WHAT)
    where = ctx.learner.where("Bookmark", "added_at")
    with (
        step("storing Bookmark(user_id=..., document_id=..., note=...) and reading bookmark.added_at", where),
        Session(ctx.engine) as session,
    ):
        bookmark = Bookmark(user_id=user_id, document_id=document_id, note=note)
        session.add(bookmark)
        session.commit()
        value = bookmark.added_at
    return {"datetime": isinstance(value, datetime), "shown": repr(value)[:200]}


@act
def append_new_tag(ctx, document_id: int, name: str) -> dict:
    """``report.tags.append(Tag(name=name))`` and commit, in the check's session."""
    models = _models(ctx)
    tag_links(ctx.learner, models)
    where = ctx.learner.where("Document", "tags")
    session = _session(ctx)
    with step("appending tags to a document, committing, removing one", where):
        report = session.get(models.Document, document_id)
        ctx.state["report"] = report
        report.tags.append(models.Tag(name=name))
        session.commit()
    return {"why": unsaved_by_cascade(models.Document, "tags", "a new Tag", where)}


@act
def store_stored_tag(ctx, name: str) -> None:
    """A Tag stored on its own, kept for the next act."""
    models = _models(ctx)
    session = _session(ctx)
    with step("appending tags to a document, committing, removing one", ctx.learner.where("Document", "tags")):
        tag = models.Tag(name=name)
        session.add(tag)
        session.commit()
        ctx.state["stored"] = tag


@act
def append_stored_tag(ctx) -> None:
    """The stored tag appended to the same document, and commit."""
    session = _session(ctx)
    with step("appending tags to a document, committing, removing one", ctx.learner.where("Document", "tags")):
        ctx.state["report"].tags.append(ctx.state["stored"])
        session.commit()


@act
def remove_tag(ctx, tag_id: int) -> None:
    """``report.tags.remove(tag)`` and commit; the session is closed after."""
    models = _models(ctx)
    session = _session(ctx)
    try:
        with step("appending tags to a document, committing, removing one", ctx.learner.where("Document", "tags")):
            ctx.state["report"].tags.remove(session.get(models.Tag, tag_id))
            session.commit()
    finally:
        session.close()
        ctx.state.clear()


@act
def tags_shape(ctx) -> dict:
    """Document.tags, whatever its shape: whether it goes through a secondary table, and its target table."""
    models = _models(ctx)
    model(ctx.learner, models, "Tag", "tags", TAG_WHAT)
    # any shape of Document.tags is run: what goes wrong is shown, not only the missing secondary=
    prop = relationship(ctx.learner, models, "Document", "tags", target="Tag", collection=True, secondary=None)
    return {"secondary": prop.secondary is not None, "target": prop.target.name}


@act
def tag_two_documents(ctx, first: int, second: int, name: str) -> dict:
    """The same new Tag appended to two documents, committed: the database's refusal, if any."""
    models = _models(ctx)
    where = ctx.learner.where("Document", "tags")
    with step("tagging two documents with the same Tag object", where), Session(ctx.engine) as session:
        tag = models.Tag(name=name)
        documents = [session.get(models.Document, first), session.get(models.Document, second)]
        for document in documents:
            document.tags.append(tag)
        try:
            session.commit()
        except IntegrityError as error:
            return {"refused": database_reason(error)}
    return {"refused": None}


@act
def read_document_tags(ctx, document_ids: list[int]) -> list[list[str]]:
    """Each document's ``.tags``, by name, read in a new session."""
    models = _models(ctx)
    with step("reading document.tags", ctx.learner.where("Document", "tags")), Session(ctx.engine) as session:
        documents = [session.get(models.Document, doc_id) for doc_id in document_ids]
        return [tag_names(document.tags) for document in documents]


@act
def attach_looked_up(ctx, name: str, document_id: int) -> None:
    """The lesson's get-or-create: the tag looked up by name, attached to another document."""
    models = _models(ctx)
    with step("attaching the looked-up tag to a third document", ctx.learner.where("Document", "tags")):
        with Session(ctx.engine) as session:
            tag = session.scalars(select(models.Tag).where(models.Tag.name == name)).one()
            document = session.get(models.Document, document_id)
            document.tags.append(tag)
            session.commit()


@act
def read_tag_documents(ctx, tag_ids: list[int]) -> list:
    """Each tag's name and ``.documents`` (titles), read in a new session."""
    models = _models(ctx)
    tag_links_both(ctx.learner, models)
    with step("reading tag.documents", ctx.learner.where("Tag", "documents")), Session(ctx.engine) as session:
        tags = [session.get(models.Tag, tag_id) for tag_id in tag_ids]
        return [[tag.name, sorted(d.title for d in tag.documents)] for tag in tags]


@act
def tags_in_memory(ctx, owner_id: int) -> dict:
    """Both sides of the tag link on new objects, before any flush; then the document saved."""
    models = _models(ctx)
    tag_links_both(ctx.learner, models)
    Document, Tag = models.Document, models.Tag
    where = ctx.learner.where("Document", "tags")
    seen = {}
    with step("`doc.tags.append(tag)` on new objects", where):
        draft = Document(title="Draft", body="text", owner_id=owner_id)
        finance, q3 = Tag(name="finance"), Tag(name="q3")
        draft.tags.append(finance)
    seen["tag_lists_document"] = draft in finance.documents
    if not seen["tag_lists_document"]:
        return seen
    with step("`tag.documents.append(doc)` on new objects", ctx.learner.where("Tag", "documents")):
        q3.documents.append(draft)
    seen["document_lists_tag"] = q3 in draft.tags
    if not seen["document_lists_tag"]:
        return seen
    with step("saving a document linked to two tags", where), Session(ctx.engine) as session:
        session.add(draft)
        try:
            session.commit()
        except IntegrityError as error:
            seen["refused"] = database_reason(error)
            return seen
        seen["id"] = draft.id
    return seen


@act
def read_bookmarks(ctx, user_id: int, document_id: int, other_document_id: int) -> dict:
    """user.bookmarks (document title, note, added_at) and document.bookmarks (user email, note)."""
    models = _models(ctx)
    bookmark_links(ctx.learner, models)
    learner = ctx.learner
    with (
        step("reading user.bookmarks and each bookmark's document", learner.where("User", "bookmarks")),
        Session(ctx.engine) as session,
    ):
        user = session.get(models.User, user_id)
        of_user = sorted(
            [b.document.title, b.note, b.added_at.replace(tzinfo=None).isoformat()] for b in user.bookmarks
        )
    with (
        step("reading document.bookmarks and each bookmark's user", learner.where("Document", "bookmarks")),
        Session(ctx.engine) as session,
    ):
        document, other = session.get(models.Document, document_id), session.get(models.Document, other_document_id)
        of_document = sorted([b.user.email, b.note] for b in document.bookmarks)
        of_other = [b.user.email for b in other.bookmarks]
    return {"user": of_user, "document": of_document, "other": of_other}


@act
def bookmarks_in_memory(ctx, email: str, titles: list[str]) -> dict:
    """A new user, two documents and two Bookmarks made from either side, before any flush; then saved."""
    models = _models(ctx)
    bookmark_links(ctx.learner, models)
    User, Document, Bookmark = models.User, models.Document, models.Bookmark
    learner = ctx.learner
    seen = {}
    with step("`Bookmark(user=ana, document=report, note=...)` on new objects", learner.where("Bookmark")):
        ana = User(email=email, name="Ana")
        report = Document(title=titles[0], body="text", owner=ana)
        handbook = Document(title=titles[1], body="text", owner=ana)
        first = Bookmark(user=ana, document=report, note="Re-read")
    seen["in_user"], seen["in_document"] = first in ana.bookmarks, first in report.bookmarks
    if not (seen["in_user"] and seen["in_document"]):
        return seen
    with step("`user.bookmarks.append(b)` and `document.bookmarks.append(b)`", learner.where("User", "bookmarks")):
        second = Bookmark(note="Skim")
        ana.bookmarks.append(second)
        handbook.bookmarks.append(second)
    seen["appended_sets_both"] = second.user is ana and second.document is handbook
    if not seen["appended_sets_both"]:
        return seen
    with (
        step("saving a new user with two bookmarks (session.add(user); commit)", learner.where("Bookmark")),
        Session(ctx.engine) as session,
    ):
        session.add(ana)
        session.commit()
    return seen


@act
def append_bookmark(ctx, user_id: int, document_id: int, note: str) -> dict:
    """``user.bookmarks.append(Bookmark(document_id=..., note=...))`` on a stored user, and commit."""
    models = _models(ctx)
    where = ctx.learner.where("User", "bookmarks")
    with (
        step("`user.bookmarks.append(Bookmark(document_id=..., note=...))` on a stored user; commit", where),
        Session(ctx.engine) as session,
    ):
        user = session.get(models.User, user_id)
        user.bookmarks.append(models.Bookmark(document_id=document_id, note=note))
        session.commit()
    return {"why": unsaved_by_cascade(models.User, "bookmarks", "a Bookmark", where) or ""}


# --------------------------------------------------------------------------- fixtures: in the judge


@fixture
def tables(learner):
    learner.run(create_tables)


@fixture
def data(tables) -> dict:
    """This run's users and documents (seeded by each check, with what else it needs)."""
    return draw()


def mentioning(log, table: str) -> list:
    """The statements of ``log`` that name ``table`` (a lazy load across ``secondary=`` lists it in
    ``FROM tags, document_tag``, which the statement's shape does not take apart)."""
    return [statement for statement in log if table in statement.sql.lower()]


def at_bookmark(learner, attribute: str, fallback: str) -> str:
    """Where Bookmark.attribute is declared, or ``fallback`` when there is no class Bookmark."""
    where = learner.where("Bookmark", attribute)
    return fallback if where == "models.py" else where


# --------------------------------------------------------------------------- schema checks


@check("document-tag-table", "document_tag: document_id + tag_id, the pair as primary key, foreign keys to both")
def document_tag_table(learner, data, schema, db):
    where = where_table(learner, "document_tag")
    table = table_exists(
        learner,
        schema,
        "document_tag",
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
    doc_id = data["documents"][0][0]
    tag_id = RANDOM.randrange(1, 9_999)
    seed(db, data, tags=[(tag_id, tag_name())], links=[(doc_id, tag_id)])
    with db.connect() as conn:
        try:
            conn.execute(text("INSERT INTO document_tag (document_id, tag_id) VALUES (:d, :t)"), {"d": doc_id, "t": tag_id})
        except IntegrityError:
            conn.rollback()
        else:
            fail(
                f"Postgres accepted the link (document {doc_id}, tag {tag_id}) twice: the pair must be the primary key "
                f"({where})"
            )


@check("tags-table", "tags: id primary key, name VARCHAR(50) NOT NULL")
def tags_table(learner, tables, schema):
    learner.run(require_tag)
    table = table_exists(learner, schema, "tags", 'class Tag(Base) with __tablename__ = "tags"')
    where = learner.where("Tag", "id")
    if table.primary_key != ["id"]:
        fail(f"tags must have the primary key (id); Postgres has ({', '.join(table.primary_key)}) ({where})")
    table.expect_column("id", where, types=INTEGER_TYPES, nullable=False)
    if not table.column("id").generated:
        fail(f"tags.id gets no value from Postgres: `id: Mapped[int] = mapped_column(primary_key=True)` ({where})")
    table.expect_column("name", learner.where("Tag", "name"), types={"VARCHAR"}, nullable=False, length=50)


@check("tag-name-unique", "tags.name is UNIQUE: Postgres rejects a second tag with the same name")
def tag_name_unique(learner, tables, schema, db):
    learner.run(require_tag)
    where = learner.where("Tag", "name")
    table = table_exists(learner, schema, "tags", 'class Tag(Base) with __tablename__ = "tags"')
    table.column("name")
    name = tag_name()  # drawn per run
    first = ask(learner, store_tag, name)
    if first["refused"] is not None:
        fail(f"storing Tag(name={name!r}) failed: {first['refused']} ({where})")
    second = ask(learner, store_tag, name)
    with db.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM tags WHERE name = :name"), {"name": name}).scalar_one()
    if stored > 1:
        fail(
            f"Postgres stored a second Tag(name={name!r}): tags.name has no UNIQUE constraint. Tags are "
            "meant to be shared — attach the existing Tag object to the next document — and only the "
            "database can guarantee there is never a second row with the same name, whoever inserts it. "
            f"Add unique=True: `name: Mapped[str] = mapped_column(String(50), unique=True)` ({where})"
        )
    if stored != 1:
        fail(f"after storing Tag(name={name!r}) the tags table holds {stored} row(s) with that name; expected 1 ({where})")
    reason = second["refused"] or ""
    if "unique" not in reason.lower() and "duplicate" not in reason.lower():
        fail(f"the second tag {name!r} was rejected, but not as a duplicate: {reason or 'no error was raised'}")
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
        return at_bookmark(learner, attribute, where)

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
def bookmark_added_at(learner, data, schema, db):
    table = table_exists(learner, schema, "bookmarks", 'class Bookmark(Base) with __tablename__ = "bookmarks"')
    table.column("added_at")
    where = at_bookmark(learner, "added_at", where_table(learner, "bookmarks"))
    seed(db, data)
    (ada, *_), (grace, *_) = data["users"]
    (report, *_), (budget, *_), _ = data["documents"]
    with db.connect() as conn:
        constant = frozen_default(conn, "bookmarks", "added_at")
        if constant is not None:
            fail(frozen_message("bookmarks", "added_at", constant, "server_default=func.now()", where))
        plain = f"INSERT INTO bookmarks (user_id, document_id) VALUES ({int(ada)}, {int(report)})"
        try:
            conn.execute(text(plain))
        except IntegrityError as error:
            fail(
                f"a plain SQL `{plain}` failed: "
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

    note = f"Check the numbers {RANDOM.randrange(100, 999)}"
    got = ask(learner, store_bookmark, grace, budget, note)
    stored = fetch(db, f"SELECT added_at FROM bookmarks WHERE user_id = {int(grace)} AND document_id = {int(budget)}")
    if not stored or stored[0][0] is None:
        fail(f"a Bookmark committed through the ORM left no row with an added_at in bookmarks ({where})")
    if not got["datetime"]:
        fail(f"after committing a Bookmark, bookmark.added_at is {got['shown']}, not the datetime Postgres stored ({where})")


# --------------------------------------------------------------------------- tags


@check(
    "append-writes-one-link",
    "appending a tag to document.tags writes one document_tag row; removing it deletes only the link",
)
def append_writes_one_link(learner, data, db, sql):
    seed(db, data)
    where = learner.where("Document", "tags")
    report = data["documents"][0][0]
    finance_name = tag_name()
    q3_name = tag_name((finance_name,))
    with sql.capture() as log:
        got = ask(learner, append_new_tag, report, finance_name)
    links, new_tags = log.of_kind("INSERT", "document_tag"), log.of_kind("INSERT", "tags")
    if len(new_tags) != 1:
        sql.flag(new_tags, "INSERT INTO tags")
        why = got["why"] if not new_tags else ""
        fail(
            f"committing `report.tags.append(Tag(name={finance_name!r}))` sent {len(new_tags)} INSERTs into tags; "
            "one new Tag is one row" + (f". {why}" if why else "")
        )
    if len(links) != 1 or sum(s.rows for s in links) != 1:
        sql.flag(links or log.data_statements, "expected: one INSERT INTO document_tag")
        fail(
            f"committing `report.tags.append(Tag(name={finance_name!r}))` sent {len(links)} INSERT(s) into document_tag "
            f"carrying {sum(s.rows for s in links)} row(s); one link is one row (statements below). Document.tags "
            f"writes the association table by itself when it is declared with secondary=document_tag ({where})"
        )
    finance_id = {name: tag_id for tag_id, name in tag_rows(db).items()}.get(finance_name)
    if link_rows(db) != {(report, finance_id)}:
        fail(f"after the commit document_tag holds {sorted(link_rows(db))}; expected one row ({report}, {finance_id})")

    learner.run(store_stored_tag, q3_name)
    with sql.capture() as log:
        learner.run(append_stored_tag)
    links, new_tags = log.of_kind("INSERT", "document_tag"), log.of_kind("INSERT", "tags")
    if new_tags or len(links) != 1 or sum(s.rows for s in links) != 1:
        sql.flag(new_tags + links, "")
        fail(
            f"appending an already stored tag sent {len(new_tags)} INSERT(s) into tags and {len(links)} into "
            "document_tag; it must write just the one link row"
        )

    q3_id = {name: tag_id for tag_id, name in tag_rows(db).items()}.get(q3_name)
    with sql.capture() as log:
        learner.run(remove_tag, finance_id)
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
    if remaining_links != {(report, q3_id)}:
        fail(
            f"after `report.tags.remove({finance_name})` and a commit, document_tag holds {sorted(remaining_links)}; "
            f"only the ({report}, {finance_id}) link should be gone"
        )
    if sorted(remaining_tags.values()) != sorted([finance_name, q3_name]):
        fail(f"after removing a link the tags table holds {sorted(remaining_tags.values())}; both tags must stay")
    if not log.of_kind("DELETE", "document_tag"):
        fail("the link is gone, but Postgres received no DELETE FROM document_tag when the tag was removed")


@check("shared-tag-one-row", "two documents tagged with the same Tag: one row in tags, two in document_tag")
def shared_tag_one_row(learner, data, db, schema):
    shape = ask(learner, tags_shape)
    seed(db, data)
    where = learner.where("Document", "tags")
    (report, *_), (budget, *_), (handbook, *_) = data["documents"]
    name = tag_name()  # drawn per run
    got = ask(learner, tag_two_documents, report, budget, name)
    if got["refused"] is not None:
        fail(
            "tagging two documents with the same Tag object failed: "
            f"{got['refused']}. One tag must be able to label many documents: document_tag's "
            f"primary key is the *pair* (document_id, tag_id) ({where_table(learner, 'document_tag')})"
        )
    names = dict(zip((report, budget), ask(learner, read_document_tags, [report, budget], kind=list, size=2), strict=True))
    if names[report] != [name] and names[budget] == [name] and not shape["secondary"]:
        fail(
            f"`report.tags.append({name})` then `budget.tags.append({name})`, committed: read back, "
            f"report.tags is {names[report]} and budget.tags is {names[budget]} — tagging the second document took "
            f"the tag away from the first. Document.tags follows a foreign key on the `{shape['target']}` table, "
            "and one column holds one document: that is one-to-many. A tag shared by many documents needs the "
            "association table: `document_tag` with both foreign keys, and "
            f"`{EXAMPLES[('Document', 'tags')]}` ({where})"
        )
    for doc_id in (report, budget):
        if names[doc_id] != [name]:
            fail(f"read back in a new session, document {doc_id}.tags is {names[doc_id]}; expected [{name!r}] ({where})")
    tags = tag_rows(db)
    if len(tags) != 1:
        fail(f"one Tag object attached to two documents left {len(tags)} rows in tags ({sorted(tags.values())}); expected 1")
    (tag_id,) = tags
    if not schema.has_table("document_tag"):
        fail(f"there is no document_tag table: declare `{DOCUMENT_TAG}` and use it as secondary= ({where})")
    links = link_rows(db)
    if links != {(report, tag_id), (budget, tag_id)}:
        fail(
            f"after tagging documents {report} and {budget} with the same tag (id {tag_id}), document_tag holds "
            f"{sorted(links)}; expected the two rows ({report}, {tag_id}) and ({budget}, {tag_id}) ({where})"
        )

    # the lesson's get-or-create: look the tag up, attach the same row to a third document
    learner.run(attach_looked_up, name, handbook)
    if len(tag_rows(db)) != 1 or len(link_rows(db)) != 3:
        fail(
            f"attaching the looked-up {name!r} tag to a third document left {len(tag_rows(db))} row(s) in tags "
            f"and {len(link_rows(db))} in document_tag; expected 1 and 3"
        )


@check("tags-both-ways", "document.tags lists a document's tags; tag.documents lists a tag's documents")
def tags_both_ways(learner, data, db, sql):
    (report, report_title, _), (budget, budget_title, _), (handbook, _, _) = data["documents"]
    ids = RANDOM.sample(range(1, 9_999), 3)
    names = [tag_name()]
    names.append(tag_name(tuple(names)))
    names.append(tag_name(tuple(names)))
    finance, draft, q3 = zip(ids, names, strict=True)
    seed(
        db,
        data,
        tags=[finance, draft, q3],
        links=[(report, finance[0]), (report, q3[0]), (budget, finance[0]), (budget, draft[0])],
    )
    expected_tags = {report: sorted([finance[1], q3[1]]), budget: sorted([draft[1], finance[1]]), handbook: []}
    expected_docs = {
        finance[0]: sorted([budget_title, report_title]),
        draft[0]: [budget_title],
        q3[0]: [report_title],
    }
    with sql.capture() as log:
        got_tags = ask(learner, read_document_tags, list(expected_tags), kind=list, size=len(expected_tags))
    for (doc_id, want), got in zip(expected_tags.items(), got_tags, strict=True):
        if got != want:
            fail(f"document {doc_id}.tags is {got}; document_tag links it to {want}. ({learner.where('Document', 'tags')})")
    if not mentioning(log, "document_tag"):
        fail(
            "document.tags listed the right tags, but Postgres received no query on document_tag while they were "
            f"read: the collection must be loaded through the association table ({learner.where('Document', 'tags')})"
        )
    with sql.capture() as log:
        got_docs = ask(learner, read_tag_documents, list(expected_docs), kind=list, size=len(expected_docs))
    for (_, want), (shown, got) in zip(expected_docs.items(), got_docs, strict=True):
        if got != want:
            fail(f"tag '{shown}'.documents is {got}; document_tag links it to {want} ({learner.where('Tag', 'documents')})")
    if not mentioning(log, "document_tag"):
        fail(
            "tag.documents listed the right documents, but Postgres received no query on document_tag while they "
            f"were read ({learner.where('Tag', 'documents')})"
        )


@check(
    "tags-in-sync",
    "appending on one side updates the other in memory, before a flush (back_populates)",
    testimony=True,
)
def tags_in_sync(learner, data, db):
    seed(db, data)
    where = learner.where("Document", "tags")
    seen = ask(learner, tags_in_memory, data["users"][0][0])
    if not seen["tag_lists_document"]:
        fail(
            "after `doc.tags.append(tag)`, tag.documents does not contain the document. Without back_populates "
            "Document.tags and Tag.documents are two unrelated relationships over the same table: each is filled "
            "only by a flush and a reload, and both may try to write the same link row. Name each other: "
            'back_populates="documents" on Document.tags and back_populates="tags" on Tag.documents '
            f"({where})"
        )
    if not seen["document_lists_tag"]:
        fail(
            "after `tag.documents.append(doc)`, doc.tags does not contain the tag: add "
            f'back_populates="tags" to Tag.documents ({learner.where("Tag", "documents")})'
        )
    if "refused" in seen:
        fail(f"saving a document linked from both sides failed: {seen['refused']} ({where})")
    links = link_rows(db)
    if len(links) != 2 or {d for d, _ in links} != {seen.get("id")}:
        fail(
            f"a document with two tags, linked from both sides, left document_tag holding {sorted(links)}; "
            "expected 2 rows"
        )


# --------------------------------------------------------------------------- bookmarks


@check("bookmark-navigation", "user.bookmarks -> Bookmark -> .document, and document.bookmarks -> .user")
def bookmark_navigation(learner, data, db, sql):
    (ada, ada_email, _), (grace, grace_email, _) = data["users"]
    (report, report_title, _), _, (handbook, handbook_title, _) = data["documents"]
    monday = datetime(2024, 9, 2, 9, 30) + timedelta(minutes=RANDOM.randrange(0, 500_000))  # drawn per run
    notes = [f"Re-read before the board meeting {RANDOM.randrange(100, 999)}", f"Check the numbers {RANDOM.randrange(100, 999)}"]
    seed(
        db,
        data,
        bookmarks=[
            (ada, report, notes[0], monday),
            (ada, handbook, None, monday + timedelta(days=1)),
            (grace, report, notes[1], monday + timedelta(days=2)),
        ],
    )
    with sql.capture() as log:
        got = ask(learner, read_bookmarks, ada, report, handbook)
    want = sorted(
        [
            [handbook_title, None, (monday + timedelta(days=1)).isoformat()],
            [report_title, notes[0], monday.isoformat()],
        ]
    )
    if got["user"] != want:
        shown = [tuple(row) for row in got["user"]]
        fail(
            f"user {ada}'s bookmarks, read as (bookmark.document.title, bookmark.note, bookmark.added_at), are "
            f"{shown}; the bookmarks table says {[tuple(row) for row in want]} ({learner.where('User', 'bookmarks')})"
        )
    want = sorted([[ada_email, notes[0]], [grace_email, notes[1]]])
    if got["document"] != want:
        fail(
            f"document {report}'s bookmarks, read as (bookmark.user.email, bookmark.note), are "
            f"{[tuple(row) for row in got['document']]}; expected {[tuple(row) for row in want]} "
            f"({learner.where('Document', 'bookmarks')})"
        )
    if got["other"] != [ada_email]:
        fail(f"document {handbook}'s bookmarks lead to {got['other']}; expected [{ada_email!r}]")
    if not mentioning(log, "bookmarks"):
        fail(
            "the bookmarks listed are right, but Postgres received no query on bookmarks while they were read: "
            f"they must be loaded from the database ({learner.where('User', 'bookmarks')})"
        )


@check(
    "bookmarks-in-sync",
    "a new Bookmark shows up in user.bookmarks and document.bookmarks at once, and saves with them",
    testimony=True,
)
def bookmarks_in_sync(learner, data, db):
    seed(db, data)
    email = f"ana{RANDOM.randrange(10_000, 99_999)}@example.com"  # drawn per run
    titles = [f"Ana's report {RANDOM.randrange(100, 999)}", f"Ana's handbook {RANDOM.randrange(100, 999)}"]
    seen = ask(learner, bookmarks_in_memory, email, titles)
    if not seen["in_user"]:
        fail(
            "after `Bookmark(user=ana, document=report)`, ana.bookmarks does not contain it. Without "
            "back_populates, Bookmark.user and User.bookmarks are two unrelated relationships over the same "
            "foreign key: the collection only learns about the new bookmark after a flush and a reload. Name each "
            'other: back_populates="bookmarks" on Bookmark.user and back_populates="user" on User.bookmarks '
            f"({learner.where('Bookmark', 'user')})"
        )
    if not seen["in_document"]:
        fail(
            "after `Bookmark(user=ana, document=report)`, report.bookmarks does not contain it: "
            'back_populates="bookmarks" on Bookmark.document and back_populates="document" on '
            f"Document.bookmarks ({learner.where('Bookmark', 'document')})"
        )
    if not seen["appended_sets_both"]:
        fail(
            "after `user.bookmarks.append(b)` and `document.bookmarks.append(b)`, b.user / b.document are not set: "
            "back_populates on User.bookmarks and Document.bookmarks must name Bookmark.user and Bookmark.document "
            f"({learner.where('User', 'bookmarks')})"
        )
    with db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT d.title, b.note, b.added_at FROM bookmarks b JOIN documents d ON d.id = b.document_id "
                "JOIN users u ON u.id = b.user_id WHERE u.email = :email"
            ),
            {"email": email},
        ).all()
    got = sorted((title, note) for title, note, _ in rows)
    if got != sorted([(titles[1], "Skim"), (titles[0], "Re-read")]):
        fail(f"after adding the user and committing, the bookmarks table holds {got} for them; expected both bookmarks")
    if any(added_at is None for _, _, added_at in rows):
        fail("bookmarks saved through the ORM have no added_at: server_default=func.now()")
    (grace, *_) = data["users"][1]
    (budget, *_) = data["documents"][1]
    note = f"Budget questions {RANDOM.randrange(100, 999)}"
    appended = ask(learner, append_bookmark, grace, budget, note)
    stored = fetch(db, f"SELECT note FROM bookmarks WHERE user_id = {int(grace)} AND document_id = {int(budget)}")
    if stored != [(note,)]:
        fail("a Bookmark appended to user.bookmarks of a stored user was not saved by the commit. " + appended["why"])
