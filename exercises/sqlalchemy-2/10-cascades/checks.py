"""Checks for 10-cascades: Document.chunks with cascade="all, delete-orphan" and passive_deletes=True,
chunks.document_id with ON DELETE CASCADE.

Judged apart from the learner's code (docs/authoring.md, "Acts and checks"): the acts below run
beside it, in the learner's process, and return plain data; the checks run in the judge. The
judge seeds a user, three documents and their chunks through its own connection, with ids and
titles drawn for this run (no answer can be written from this file), reads the tables back
through its own connection, and reads the SQL from what Postgres received (the server's statement
log): the UPDATE that nulls document_id, the DELETE of an orphan, the SELECT passive_deletes
avoids. ``session.delete()`` issues the cascade SELECT at once, not at flush, so the measured acts
wrap the ``delete()`` call as well as the ``commit()``. chunks-relationship also asks whether the
two sides stay in sync in memory before a flush, which only the learner's process can see: that
check is testimony.
"""

import random
import warnings
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from checker.authoring import act, check, database_reason, fail, fix_or_hint, fixture, module_helpers, step
from checker.authoring.shared import ask, configured_models

HERE = Path(__file__).parent
helpers = module_helpers()
"""The module's shared helpers (``helpers.OUT_OF_SHAPE``: what an answer out of shape means)."""
INTEGER_TYPES = {"INTEGER", "BIGINT", "SMALLINT"}
STRING_TYPES = {"VARCHAR", "TEXT"}
RANDOM = random.SystemRandom()
TITLES = ["Handbook", "Policy", "FAQ", "Roadmap", "Onboarding", "Security", "Pricing", "Glossary", "Changelog"]
SIZES = (3, 2, 4)
"""Chunks of the first, second and third seeded document."""

RELATIONSHIP = (
    'chunks: Mapped[list["Chunk"]] = relationship(back_populates="document", '
    'cascade="all, delete-orphan", passive_deletes=True)'
)
FOREIGN_KEY = 'document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))'


def draw() -> dict:
    """This run's data: a user, three documents (id, title, chunk ids), drawn per check."""
    ids = RANDOM.sample(range(10, 9_999), len(SIZES))
    chunk_ids = iter(RANDOM.sample(range(10_000, 999_999), sum(SIZES)))
    titles = RANDOM.sample(TITLES, len(SIZES))
    documents = [(doc_id, f"{title} {RANDOM.randrange(100, 999)}", sorted(next(chunk_ids) for _ in range(size)))
                 for doc_id, title, size in zip(ids, titles, SIZES, strict=True)]
    return {"user": RANDOM.randrange(1, 9_999), "documents": documents}


# --------------------------------------------------------------------------- acts: in the learner's process


def _models(ctx):
    """The learner's models, with every mapper configured (relationship errors surface here)."""
    learner = ctx.learner

    def passive_deletes_all(reason: str) -> str | None:
        if "passive_deletes='all'" not in reason:
            return None
        return (
            f"SQLAlchemy refuses the relationship: {reason}. passive_deletes='all' is for relationships "
            "*without* a delete cascade (it also stops SQLAlchemy from nulling the foreign keys of loaded "
            f'children). With cascade="all, delete-orphan" write passive_deletes=True '
            f"({learner.where('Document', 'chunks')})"
        )

    module = configured_models(
        learner,
        '. Check that each back_populates="..." names the attribute on the *other* class and that both sides exist',
        passive_deletes_all,
    )
    if getattr(module, "Chunk", None) is None:
        fail(
            "models.py has no class `Chunk` yet: a document's text is split into chunks, each a row of its own "
            "table that belongs to exactly one document (a many-to-one, the document's id as a foreign key). "
            + fix_or_hint(
                learner,
                HERE,
                'Define `class Chunk(Base)` with `__tablename__ = "chunks"`, columns id, '
                "text and document_id, and the relationship `document`",
            )
        )
    if inspect(module.Chunk).local_table.name != "chunks":
        fail(f'Chunk is mapped to `{inspect(module.Chunk).local_table.name}`; it must be `__tablename__ = "chunks"`')
    return module


def relationships(learner, models):
    """Document.chunks (a list of Chunk) and Chunk.document (one Document)."""
    Document, Chunk = models.Document, models.Chunk
    document, chunk = inspect(Document), inspect(Chunk)
    where = learner.where("Document", "chunks")
    if "chunks" not in document.relationships:
        fail(f"Document has no relationship `chunks`: add `{RELATIONSHIP}` to class Document ({where})")
    prop = document.relationships["chunks"]
    if prop.mapper.class_ is not Chunk or not prop.uselist:
        fail(f'Document.chunks must be a list of Chunk objects: Mapped[list["Chunk"]] = relationship(...) ({where})')
    if "document" not in chunk.relationships:
        fail(
            "Chunk has no relationship `document`: add "
            '`document: Mapped["Document"] = relationship(back_populates="chunks")` '
            f"({learner.where('Chunk', 'document')})"
        )
    other = chunk.relationships["document"]
    if other.mapper.class_ is not Document or other.uselist:
        fail(f'Chunk.document must be one Document: Mapped["Document"] ({learner.where("Chunk", "document")})')
    return prop


def _both(ctx):
    models = _models(ctx)
    return models, relationships(ctx.learner, models)


@act
def create_tables(ctx) -> None:
    _models(ctx).Base.metadata.create_all(ctx.engine, checkfirst=False)  # every check starts on an empty schema


@act
def navigate(ctx, document_ids: list[int], chunk_id: int) -> dict:
    """Each document's ``.chunks`` (ids), and one chunk's ``.document`` (its id, or what it is instead)."""
    models, _ = _both(ctx)
    learner = ctx.learner
    with step("reading document.chunks and chunk.document", learner.where("Document", "chunks")), Session(ctx.engine) as session:
        chunks = [sorted(c.id for c in session.get(models.Document, doc_id).chunks) for doc_id in document_ids]
        document = session.get(models.Chunk, chunk_id).document
        shown = None if document is None else (document.id if isinstance(document, models.Document) else repr(document)[:80])
    return {"chunks": chunks, "document": shown}


@act
def sync_in_memory(ctx) -> dict:
    """What the two sides say in memory, before any flush."""
    models, _ = _both(ctx)
    Document, Chunk = models.Document, models.Chunk
    with step("linking new chunks in memory", ctx.learner.where("Document", "chunks")):
        doc = Document(title="Draft", body="text")
        first = Chunk(text="part 1", document=doc)
        in_doc = first in doc.chunks
        second = Chunk(text="part 2")
        doc.chunks.append(second)
    return {"in_doc": in_doc, "append_sets_document": second.document is doc}


@act
def save_new_document(ctx, title: str, texts: list[str], owner_id: int) -> dict:
    """A new Document with chunks appended to document.chunks: session.add(document), commit()."""
    models, _ = _both(ctx)
    Document, Chunk = models.Document, models.Chunk
    where = ctx.learner.where("Document", "chunks")
    with (
        step("saving a new Document with two chunks appended to document.chunks: session.add(document), commit()", where),
        Session(ctx.engine) as session,
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        doc = Document(title=title, body="text", owner_id=owner_id)
        for chunk_text in texts:
            doc.chunks.append(Chunk(text=chunk_text))
        session.add(doc)
        session.commit()
    said = next((str(w.message) for w in caught if "not in session" in str(w.message)), "")
    return {"cascade": ", ".join(sorted(inspect(Document).relationships["chunks"].cascade)), "warned": said[:500]}


@act
def delete_loaded_document(ctx, document_id: int) -> dict:
    """session.delete(document) of a document whose chunks were loaded, and commit: the database's
    refusal, if any (the SQL itself is read from the server)."""
    models, _ = _both(ctx)
    with step("session.delete(document) and commit", ctx.learner.where("Document", "chunks")), Session(ctx.engine) as session:
        document = session.get(models.Document, document_id)
        list(document.chunks)  # loaded, as by code that showed them before deleting
        session.delete(document)
        try:
            session.commit()
        except IntegrityError as error:
            session.rollback()
            return {"refused": database_reason(error)}
    return {"refused": None}


@act
def remove_chunk(ctx, document_id: int, chunk_id: int) -> dict:
    """``document.chunks.remove(chunk)`` and commit: the database's refusal, if any."""
    models, _ = _both(ctx)
    with step("`document.chunks.remove(chunk)` and commit", ctx.learner.where("Document", "chunks")), Session(ctx.engine) as session:
        document = session.get(models.Document, document_id)
        outdated = next(c for c in document.chunks if c.id == chunk_id)
        document.chunks.remove(outdated)
        try:
            session.commit()
        except IntegrityError as error:
            session.rollback()
            return {"refused": database_reason(error)}
    return {"refused": None}


@act
def delete_unloaded_document(ctx, document_id: int) -> dict:
    """session.get(Document, id), session.delete(document) and commit, the chunks never touched."""
    models, prop = _both(ctx)
    where = ctx.learner.where("Document", "chunks")
    with step("session.get(Document, id), session.delete(document) and commit", where), Session(ctx.engine) as session:
        document = session.get(models.Document, document_id)
        session.delete(document)
        try:
            session.commit()
        except IntegrityError as error:
            session.rollback()
            return {"refused": database_reason(error), "lazy": str(prop.lazy)}
    return {"refused": None, "lazy": str(prop.lazy)}


# --------------------------------------------------------------------------- fixtures and helpers: in the judge


@fixture
def tables(learner):
    learner.run(create_tables)


def seed(db, data: dict) -> None:
    """The run's user, documents and chunks, through the judge's connection."""
    with db.begin() as conn:
        try:
            conn.execute(
                text("INSERT INTO users (id, email, name) VALUES (:id, :email, 'Ana')"),
                {"id": data["user"], "email": f"ana{data['user']}@example.com"},
            )
            for doc_id, title, chunk_ids in data["documents"]:
                conn.execute(
                    text("INSERT INTO documents (id, title, body, owner_id) VALUES (:id, :title, 'text', :owner)"),
                    {"id": doc_id, "title": title, "owner": data["user"]},
                )
                for n, chunk_id in enumerate(chunk_ids, start=1):
                    conn.execute(
                        text("INSERT INTO chunks (id, text, document_id) VALUES (:id, :text, :doc)"),
                        {"id": chunk_id, "text": f"{title} part {n}", "doc": doc_id},
                    )
            for table in ("users", "documents", "chunks"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"))
        except SQLAlchemyError as error:
            reason = str(getattr(error, "orig", error)).splitlines()[0]
            fail(f"the grader could not store documents and their chunks: {reason}")


@fixture
def data(tables, db) -> dict:
    """This run's documents, seeded."""
    drawn = draw()
    seed(db, drawn)
    return drawn


def chunk_rows(db) -> dict[int, int | None]:
    """chunk id -> document_id, as another connection sees it."""
    with db.connect() as conn:
        return dict(conn.execute(text("SELECT id, document_id FROM chunks")).all())


def document_ids(db) -> set[int]:
    with db.connect() as conn:
        return set(conn.execute(text("SELECT id FROM documents")).scalars())


def ondelete_of(schema) -> str | None:
    fk = schema.table("chunks").foreign_key("document_id")
    return None if fk is None else (fk.get("options") or {}).get("ondelete")


def untouched(db, data: dict, gone_document: int | None, gone_chunks: set[int]) -> None:
    """The other documents and their chunks must still be there."""
    rows = chunk_rows(db)
    for doc_id, title, chunk_ids in data["documents"]:
        if doc_id == gone_document:
            continue
        for chunk_id in chunk_ids:
            if chunk_id in gone_chunks:
                continue
            if rows.get(chunk_id) != doc_id:
                fail(
                    f"chunk {chunk_id} of {title!r} (document {doc_id}), which nobody deleted, is "
                    f"{'gone' if chunk_id not in rows else f'now attached to document {rows[chunk_id]}'}"
                )
    expected = {d for d, _, _ in data["documents"]} - {gone_document}
    if document_ids(db) != expected:
        fail(f"documents left in the table: {sorted(document_ids(db))}; expected {sorted(expected)}")


# --------------------------------------------------------------------------- checks


@check("chunks-table", "chunks: id primary key, text NOT NULL, document_id NOT NULL foreign key to documents.id")
def chunks_table(learner, tables, schema):
    chunks = schema.table("chunks")
    if chunks.primary_key != ["id"]:
        fail(
            f"chunks must have the primary key (id); Postgres has ({', '.join(chunks.primary_key)}) "
            f"({learner.where('Chunk', 'id')})"
        )
    if chunks.column("id").type_name not in INTEGER_TYPES or not chunks.column("id").generated:
        fail(
            "chunks.id must be an auto-incrementing integer: `id: Mapped[int] = mapped_column(primary_key=True)` "
            f"({learner.where('Chunk', 'id')})"
        )
    body = chunks.column("text")
    where = learner.where("Chunk", "text")
    if body.type_name not in STRING_TYPES:
        fail(f"chunks.text is {body.type}; expected text: `text: Mapped[str]` ({where})")
    if body.length is not None and body.length < 1000:
        fail(
            f"chunks.text is {body.type}: a chunk is a paragraph of text; a bare Mapped[str] (or Text) has no "
            f"length limit ({where})"
        )
    if body.nullable:
        fail(
            "chunks.text allows NULL; a chunk without text is meaningless: `text: Mapped[str]` without `| None` "
            f"({where})"
        )
    column = chunks.column("document_id")
    where = learner.where("Chunk", "document_id")
    if column.type_name not in INTEGER_TYPES:
        fail(f"chunks.document_id is {column.type}; it must be an integer like documents.id ({where})")
    if column.nullable:
        fail(
            "chunks.document_id allows NULL, so a chunk can exist without a document: an orphan nobody will ever "
            "find again. Making the column nullable silences the IntegrityError of a missing cascade but leaves the "
            f"junk behind; keep it NOT NULL (`Mapped[int]`) and let the cascades delete the chunks ({where})"
        )
    fk = chunks.foreign_key("document_id")
    if fk is None:
        fail(f"chunks.document_id has no FOREIGN KEY: `{FOREIGN_KEY}` ({where})")
    if fk["referred_table"] != "documents" or fk["referred_columns"] != ["id"]:
        fail(
            f"chunks.document_id references {fk['referred_table']}.{', '.join(fk['referred_columns'])}; it must "
            f"reference documents.id ({where})"
        )


@check(
    "chunks-relationship",
    "document.chunks and chunk.document navigate both ways and stay in sync in memory",
    testimony=True,
)
def chunks_relationship(learner, data, sql):
    documents = data["documents"]
    _, _, second_chunks = documents[1]
    probe = RANDOM.choice(second_chunks)
    with sql.capture() as log:
        got = ask(learner, navigate, [doc_id for doc_id, _, _ in documents], probe)
    if not isinstance(got["chunks"], list) or len(got["chunks"]) != len(documents):
        fail(f"your code's process answered {len(documents)} documents' chunks out of shape: {helpers.OUT_OF_SHAPE}")
    for (doc_id, _, chunk_ids), held in zip(documents, got["chunks"], strict=True):
        if held != chunk_ids:
            fail(
                f"document {doc_id}.chunks holds chunks {held}; the database has {chunk_ids} "
                f"({learner.where('Document', 'chunks')})"
            )
    if got["document"] != documents[1][0]:
        shown = "None" if got["document"] is None else got["document"]
        fail(
            f"chunk {probe}.document is {shown}; its document_id is {documents[1][0]} "
            f"({learner.where('Chunk', 'document')})"
        )
    if not log.of_kind("SELECT", "chunks"):
        fail(
            "document.chunks listed the right chunks, but Postgres received no SELECT from chunks while they were "
            f"read: the collection must be loaded from the database ({learner.where('Document', 'chunks')})"
        )
    seen = ask(learner, sync_in_memory)
    if not seen["in_doc"]:
        fail(
            "after `Chunk(text=..., document=doc)`, doc.chunks does not contain the chunk. Without back_populates "
            "the two relationships are unrelated until a flush and a reload: name each other with "
            'back_populates="document" on Document.chunks and back_populates="chunks" on Chunk.document '
            f"({learner.where('Chunk', 'document')})"
        )
    if not seen["append_sets_document"]:
        fail(
            "after `doc.chunks.append(chunk)`, chunk.document is not the document: "
            f'back_populates="document" on Document.chunks ({learner.where("Document", "chunks")})'
        )


@check("chunks-saved-with-document", "a new document's chunks are saved with it: session.add(document), commit")
def chunks_saved_with_document(learner, data, db):
    """The cascade must keep save-update: the string replaces the default, so cascade="delete-orphan"
    alone leaves chunks appended to document.chunks outside the session, never inserted."""
    where = learner.where("Document", "chunks")
    title = f"Release notes {RANDOM.randrange(10_000, 99_999)}"  # drawn per run
    texts = [f"{title} part {n}" for n in (1, 2)]
    got = ask(learner, save_new_document, title, texts, data["user"])
    with db.connect() as conn:
        documents = conn.execute(text("SELECT id FROM documents WHERE title = :title"), {"title": title}).scalars().all()
        saved = conn.execute(
            text("SELECT count(*) FROM chunks WHERE document_id = ANY(:ids) AND text = ANY(:texts)"),
            {"ids": list(documents), "texts": texts},
        ).scalar_one()
    if len(documents) != 1:
        fail(
            f"session.add(document) and commit() left {len(documents)} row(s) titled {title!r} in documents; "
            f"expected the one new document ({where})"
        )
    if saved != 2:
        fail(
            f"session.add(document) and commit() saved the document but {saved} of its 2 chunks"
            + (f' (SQLAlchemy warned: "{got["warned"]}")' if got["warned"] else "")
            + f". Document.chunks cascades {got['cascade'] or 'nothing'}: without save-update, objects appended to the "
            "collection are never put in the session, so they are never inserted. A cascade string replaces the "
            'default ("save-update, merge") rather than adding to it: cascade="all, delete-orphan" keeps '
            f"save-update ({where})"
        )


@check("delete-document-deletes-chunks", "session.delete(document) deletes its chunks too (ORM cascade)")
def delete_document_deletes_chunks(learner, data, db, sql):
    where = learner.where("Document", "chunks")
    doc_id, _, chunk_ids = data["documents"][0]
    with sql.capture() as log:
        got = ask(learner, delete_loaded_document, doc_id)
    if got["refused"] is not None:
        nulling = [s for s in log.of_kind("UPDATE", "chunks") if "document_id" in s.shape.set_columns]
        if nulling:
            sql.flag(nulling, "sets document_id to NULL instead of deleting the chunk")
            fail(
                "`session.delete(document)` and a commit failed: Postgres said "
                f'"{got["refused"]}". SQLAlchemy did not delete the chunks: it set their document_id '
                'to NULL (marked below). That is what the default cascade ("save-update, merge") does with '
                "children it has in memory: it unlinks them, it never deletes them. Postgres refused "
                "because document_id is NOT NULL — rightly, a chunk without a document is junk. Ask for the "
                f'deletion: cascade="all, delete-orphan" on Document.chunks ({where})'
            )
        fail(f"`session.delete(document)` and a commit failed: {got['refused']} ({where})")
    rows = chunk_rows(db)
    left = {c: rows[c] for c in chunk_ids if c in rows}
    if doc_id in document_ids(db):
        fail("after `session.delete(document)` and a commit, the document is still in the table")
    if left:
        nulls = [c for c, d in left.items() if d is None]
        if nulls:
            fail(
                f"after `session.delete(document)` and a commit, its chunks {nulls} are still in the table with "
                "document_id NULL: orphans that no document will ever show again. SQLAlchemy's default cascade "
                "unlinks children, it does not delete them — and a nullable document_id lets that through. Make "
                f'document_id NOT NULL and add cascade="all, delete-orphan" to Document.chunks ({where})'
            )
        fail(f"after `session.delete(document)` and a commit, its chunks {sorted(left)} are still in the table ({where})")
    if not log.of_kind("DELETE", "documents"):
        fail("the document is gone, but Postgres received no DELETE FROM documents while it was deleted")
    if not log.of_kind("DELETE", "chunks"):
        fail(
            "the document and its chunks are gone, but Postgres received no DELETE FROM chunks: the chunks were "
            "loaded, so the ORM cascade deletes them itself before the document. Ask for the deletion: "
            f'cascade="all, delete-orphan" on Document.chunks ({where})'
        )
    untouched(db, data, doc_id, set())


@check("orphan-deleted", "removing a chunk from document.chunks deletes the chunk (delete-orphan)")
def orphan_deleted(learner, data, db, sql):
    where = learner.where("Document", "chunks")
    doc_id, _, chunk_ids = data["documents"][1]
    outdated = RANDOM.choice(chunk_ids)
    with sql.capture() as log:
        got = ask(learner, remove_chunk, doc_id, outdated)
    if got["refused"] is not None:
        nulling = [s for s in log.of_kind("UPDATE", "chunks") if "document_id" in s.shape.set_columns]
        sql.flag(nulling, "unlinks the chunk (document_id = NULL) instead of deleting it")
        fail(
            "`policy.chunks.remove(chunk)` and a commit failed: Postgres said "
            f'"{got["refused"]}". Removed from the collection, the chunk became an orphan, and '
            "without delete-orphan SQLAlchemy only unlinks an orphan: it sets its document_id to NULL "
            "(marked below), which the NOT NULL column refuses. A chunk can't exist without its "
            f'document: add delete-orphan — cascade="all, delete-orphan" on Document.chunks ({where})'
        )
    rows = chunk_rows(db)
    if outdated in rows:
        if rows[outdated] is None:
            fail(
                "after `policy.chunks.remove(chunk)` and a commit, the chunk is still in the table with document_id "
                'NULL: an orphan. Removing it from the collection must delete it: cascade="all, delete-orphan" '
                f"on Document.chunks, and keep document_id NOT NULL ({where})"
            )
        fail(f"after `policy.chunks.remove(chunk)` and a commit, chunk {outdated} is still in the table ({where})")
    if not log.of_kind("DELETE", "chunks"):
        fail(f"chunk {outdated} is gone, but no DELETE FROM chunks was sent when it was removed from policy.chunks")
    untouched(db, data, None, {outdated})


@check("raw-delete-cascades", "a plain SQL DELETE of a document deletes its chunks too (ON DELETE CASCADE)")
def raw_delete_cascades(learner, data, schema, db):
    chunks = schema.table("chunks")
    where = learner.where("Chunk", "document_id")
    fk = chunks.foreign_key("document_id")
    if fk is None:
        fail(f"chunks.document_id has no FOREIGN KEY to documents.id: `{FOREIGN_KEY}` ({where})")
    ondelete = (fk.get("options") or {}).get("ondelete")
    doc_id, _, chunk_ids = data["documents"][1]
    statement = f"DELETE FROM documents WHERE id = {int(doc_id)}"
    with db.connect() as conn:
        try:
            conn.execute(text(statement))
            conn.commit()
        except IntegrityError as error:
            conn.rollback()
            fail(
                f'Postgres refused `{statement}`: "{database_reason(error)}". The foreign key chunks.document_id is '
                f"ON DELETE {ondelete or 'NO ACTION (the default)'}: with that rule Postgres won't delete a document "
                "that still has chunks. The ORM cascade only covers objects a Session deletes; a DELETE from psql, "
                "another service or a bulk delete() never sees it. Put the rule in the schema: "
                f'ForeignKey("documents.id", ondelete="CASCADE") ({where})'
            )
    rows = chunk_rows(db)
    left = sorted(c for c in chunk_ids if c in rows)
    if left:
        fail(
            f"after `{statement}`, the document's chunks {left} are still in the table "
            f"(document_id {'NULL' if rows[left[0]] is None else rows[left[0]]}): the foreign key is ON DELETE "
            f'{ondelete or "NO ACTION"}; it must be ON DELETE CASCADE: ForeignKey("documents.id", ondelete="CASCADE") '
            f"({where})"
        )
    if (ondelete or "").upper() != "CASCADE":
        fail(f"chunks.document_id's foreign key is ON DELETE {ondelete or 'NO ACTION'}; it must be CASCADE ({where})")
    untouched(db, data, doc_id, set())


@check(
    "passive-deletes-no-select",
    "deleting a document whose chunks were never loaded sends no SQL on chunks (passive_deletes)",
)
def passive_deletes_no_select(learner, data, schema, db, sql):
    where = learner.where("Document", "chunks")
    ondelete = ondelete_of(schema)
    doc_id, _, chunk_ids = data["documents"][2]
    with sql.capture() as log:
        got = ask(learner, delete_unloaded_document, doc_id)
    if got["refused"] is not None:
        reason = got["refused"]
        if "foreign key" in reason.lower():
            deletes = log.of_kind("DELETE", "documents")
            sql.flag(deletes, "refused: chunks still point at this document")
            fail(
                f'deleting a document whose chunks were not loaded failed: Postgres said "{reason}". '
                "With passive_deletes=True SQLAlchemy leaves the chunks it has not loaded to the database "
                "and sends only DELETE FROM documents (marked below) — but chunks.document_id has no ON "
                f"DELETE CASCADE (it is {ondelete or 'NO ACTION'}), so Postgres blocks the delete while "
                "chunks still point at the document. passive_deletes=True relies on the foreign key doing "
                'the work: ForeignKey("documents.id", ondelete="CASCADE") '
                f"({learner.where('Chunk', 'document_id')})"
            )
        sql.flag(log.of_kind("SELECT", "chunks"), "loads the chunks")
        sql.flag(log.of_kind("UPDATE", "chunks"), "unlinks them: document_id = NULL")
        fail(
            f'deleting a document whose chunks were not loaded failed: Postgres said "{reason}". '
            "SQLAlchemy loaded the chunks (marked below) only to unlink them — UPDATE chunks SET "
            "document_id = NULL — which the NOT NULL column refuses. Deleting a document should be one "
            'DELETE FROM documents: cascade="all, delete-orphan" and passive_deletes=True on '
            f'Document.chunks, ondelete="CASCADE" on the foreign key ({where})'
        )
    touching = log.touching("chunks")
    if touching:
        eager = [s for s in touching if s.relationship_load or (s.shape.kind == "SELECT" and s.shape.touches("documents"))]
        selects = [s for s in touching if s.shape.kind == "SELECT"]
        writes = [s for s in touching if s.shape.kind != "SELECT"]
        sql.flag(selects, "loads the chunks into the session")
        sql.flag(writes, "one row at a time: work ON DELETE CASCADE does in the database")
        if eager and got["lazy"] not in ("select", "True", "None"):
            fail(
                f"Document.chunks is declared lazy={got['lazy']!r}, so loading a document loads all its chunks "
                "with it (marked below) — and a deleted document's chunks are then deleted one by one by the ORM. "
                "A document may have thousands of chunks: keep the default lazy loading, so a document whose "
                "chunks were never used is deleted with one DELETE FROM documents and Postgres removes the "
                f"chunks through ON DELETE CASCADE ({where})"
            )
        updates = [w for w in writes if w.shape.kind == "UPDATE"]
        then = (
            f"then unlinks them one by one (UPDATE chunks SET document_id = NULL, {sum(s.rows for s in updates)} rows)"
            if updates
            else f"then deletes them one by one (DELETE FROM chunks, {sum(s.rows for s in writes)} rows)"
        )
        fail(
            f"deleting a document whose chunks were never loaded sent {len(touching)} statement(s) on chunks "
            f"(marked below): SQLAlchemy first SELECTs all {len(chunk_ids)} chunks into the session, {then}. "
            "With 10,000 chunks that is 10,000 rows loaded for nothing. "
            + (
                "The database already does this through ON DELETE CASCADE; tell SQLAlchemy to rely on it"
                if (ondelete or "").upper() == "CASCADE"
                else 'Let the database do it — ForeignKey("documents.id", ondelete="CASCADE") — and tell '
                "SQLAlchemy to rely on it"
            )
            + " with passive_deletes=True on Document.chunks. Then the only statement is DELETE FROM documents, "
            f"whatever the number of chunks ({where})"
        )
    rows = chunk_rows(db)
    left = sorted(c for c in chunk_ids if c in rows)
    if doc_id in document_ids(db):
        fail("after `session.delete(document)` and a commit, the document is still in the table")
    if left:
        fail(
            f"the document was deleted and no SQL touched chunks, but its chunks {left} are still in the table: "
            f"with passive_deletes=True the foreign key must be ON DELETE CASCADE (`{FOREIGN_KEY}`) "
            f"({learner.where('Chunk', 'document_id')})"
        )
    if not log.of_kind("DELETE", "documents"):
        fail("the document is gone, but Postgres received no DELETE FROM documents while it was deleted")
    untouched(db, data, doc_id, set())
