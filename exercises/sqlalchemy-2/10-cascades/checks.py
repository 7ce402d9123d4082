"""Checks for 10-cascades: Document.chunks with cascade="all, delete-orphan" and passive_deletes=True,
chunks.document_id with ON DELETE CASCADE.

Data is seeded through the grader's own connection (not captured). The learner's models then run
on a fresh ``Session`` over the built-in ``captured_engine`` — not the grader's ``db``, so every statement the
models make SQLAlchemy send is captured — and the tables are read back through a separate
connection. ``session.delete()`` issues the cascade SELECT at once, not at flush, so the measured
blocks wrap the ``delete()`` call as well as the ``commit()``.
"""

from pathlib import Path

from checker.authoring import check, database_reason, fail, fix_or_hint, fixture, step
from checker.authoring.shared import configured_models
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

HERE = Path(__file__).parent
INTEGER_TYPES = {"INTEGER", "BIGINT", "SMALLINT"}
STRING_TYPES = {"VARCHAR", "TEXT"}

# id, title, chunk ids
DOCUMENTS = [(1, "Handbook", [101, 102, 103]), (2, "Policy", [201, 202]), (3, "FAQ", [301, 302, 303, 304])]
CHUNKS_OF = {doc_id: chunks for doc_id, _, chunks in DOCUMENTS}

RELATIONSHIP = (
    'chunks: Mapped[list["Chunk"]] = relationship(back_populates="document", '
    'cascade="all, delete-orphan", passive_deletes=True)'
)
FOREIGN_KEY = 'document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))'


# --------------------------------------------------------------------------- fixtures


@fixture
def models(learner):
    """The learner's models, with every mapper configured (relationship errors surface here)."""

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
            + fix_or_hint(learner, HERE, 'Define `class Chunk(Base)` with `__tablename__ = "chunks"`, columns id, '
                          "text and document_id, and the relationship `document`")
        )
    if inspect(module.Chunk).local_table.name != "chunks":
        fail(f'Chunk is mapped to `{inspect(module.Chunk).local_table.name}`; it must be `__tablename__ = "chunks"`')
    return module


@fixture
def tables(models, db):
    models.Base.metadata.create_all(db)


# --------------------------------------------------------------------------- helpers


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


def seed(db) -> None:
    """One user, three documents and their chunks, through the grader's connection."""
    with db.begin() as conn:
        try:
            conn.execute(text("INSERT INTO users (id, email, name) VALUES (1, 'ana@example.com', 'Ana')"))
            for doc_id, title, chunk_ids in DOCUMENTS:
                conn.execute(
                    text("INSERT INTO documents (id, title, body, owner_id) VALUES (:id, :title, 'text', 1)"),
                    {"id": doc_id, "title": title},
                )
                for n, chunk_id in enumerate(chunk_ids, start=1):
                    conn.execute(
                        text("INSERT INTO chunks (id, text, document_id) VALUES (:id, :text, :doc)"),
                        {"id": chunk_id, "text": f"{title} part {n}", "doc": doc_id},
                    )
            for table in ("users", "documents", "chunks"):
                conn.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
                )
        except SQLAlchemyError as error:
            reason = str(getattr(error, "orig", error)).splitlines()[0]
            fail(f"the grader could not store documents and their chunks: {reason}")


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


def untouched(db, gone_document: int | None, gone_chunks: set[int]) -> None:
    """The other documents and their chunks must still be there."""
    rows = chunk_rows(db)
    for doc_id, title, chunk_ids in DOCUMENTS:
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
    expected = {d for d, _, _ in DOCUMENTS} - {gone_document}
    if document_ids(db) != expected:
        fail(f"documents left in the table: {sorted(document_ids(db))}; expected {sorted(expected)}")


# --------------------------------------------------------------------------- checks


@check("chunks-table", "chunks: id primary key, text NOT NULL, document_id NOT NULL foreign key to documents.id")
def chunks_table(learner, models, tables, schema):
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


@check("chunks-relationship", "document.chunks and chunk.document navigate both ways and stay in sync in memory")
def chunks_relationship(learner, models, tables, db, captured_engine):
    relationships(learner, models)
    Document, Chunk = models.Document, models.Chunk
    seed(db)
    with (
        step("reading document.chunks and chunk.document", learner.where("Document", "chunks")),
        Session(captured_engine) as session,
    ):
        for doc_id, title, chunk_ids in DOCUMENTS:
            got = sorted(c.id for c in session.get(Document, doc_id).chunks)
            if got != chunk_ids:
                fail(
                    f"document {doc_id}.chunks holds chunks {got}; the database has {chunk_ids} "
                    f"({learner.where('Document', 'chunks')})"
                )
        chunk = session.get(Chunk, 201)
        if chunk.document is None or chunk.document.id != 2:
            fail(
                f"chunk 201.document is {chunk.document!r}; its document_id is 2 ({learner.where('Chunk', 'document')})"
            )
    with step("linking new chunks in memory", learner.where("Document", "chunks")):
        doc = Document(title="Draft", body="text", owner_id=1)
        first = Chunk(text="part 1", document=doc)
        in_doc = first in doc.chunks
        second = Chunk(text="part 2")
        doc.chunks.append(second)
    if not in_doc:
        fail(
            "after `Chunk(text=..., document=doc)`, doc.chunks does not contain the chunk. Without back_populates "
            "the two relationships are unrelated until a flush and a reload: name each other with "
            'back_populates="document" on Document.chunks and back_populates="chunks" on Chunk.document '
            f"({learner.where('Chunk', 'document')})"
        )
    if second.document is not doc:
        fail(
            "after `doc.chunks.append(chunk)`, chunk.document is not the document: "
            f'back_populates="document" on Document.chunks ({learner.where("Document", "chunks")})'
        )


@check("chunks-saved-with-document", "a new document's chunks are saved with it: session.add(document), commit")
def chunks_saved_with_document(learner, models, tables, db, captured_engine):
    """The cascade must keep save-update: the string replaces the default, so cascade="delete-orphan"
    alone leaves chunks appended to document.chunks outside the session, never inserted."""
    import warnings

    relationships(learner, models)
    Document, Chunk = models.Document, models.Chunk
    seed(db)
    where = learner.where("Document", "chunks")
    with (
        step("saving a new Document with two chunks appended to document.chunks: session.add(document), commit()", where),
        Session(captured_engine) as session,
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        doc = Document(title="Release notes", body="text", owner_id=1)
        doc.chunks.append(Chunk(text="notes part 1"))
        doc.chunks.append(Chunk(text="notes part 2"))
        session.add(doc)
        session.commit()
        doc_id = doc.id
    with db.connect() as conn:
        saved = conn.execute(text("SELECT count(*) FROM chunks WHERE document_id = :id"), {"id": doc_id}).scalar_one()
    if saved != 2:
        cascade = ", ".join(sorted(inspect(Document).relationships["chunks"].cascade))
        said = next((str(w.message) for w in caught if "not in session" in str(w.message)), "")
        fail(
            f"session.add(document) and commit() saved the document but {saved} of its 2 chunks"
            + (f' (SQLAlchemy warned: "{said}")' if said else "")
            + f". Document.chunks cascades {cascade or 'nothing'}: without save-update, objects appended to the "
            "collection are never put in the session, so they are never inserted. A cascade string replaces the "
            'default ("save-update, merge") rather than adding to it: cascade="all, delete-orphan" keeps '
            f"save-update ({where})"
        )


@check("delete-document-deletes-chunks", "session.delete(document) deletes its chunks too (ORM cascade)")
def delete_document_deletes_chunks(learner, models, tables, db, captured_engine, sql):
    relationships(learner, models)
    Document = models.Document
    seed(db)
    where = learner.where("Document", "chunks")
    with step("session.delete(document) and commit", where), Session(captured_engine) as session:
        handbook = session.get(Document, 1)
        list(handbook.chunks)  # loaded, as by code that showed them before deleting
        with sql.capture() as log:
            session.delete(handbook)
            try:
                session.commit()
            except IntegrityError as error:
                session.rollback()
                nulling = [s for s in log.of_kind("UPDATE", "chunks") if "document_id" in s.shape.set_columns]
                if nulling:
                    sql.flag(nulling, "sets document_id to NULL instead of deleting the chunk")
                    fail(
                        "`session.delete(document)` and a commit failed: Postgres said "
                        f'"{database_reason(error)}". SQLAlchemy did not delete the chunks: it set their document_id '
                        'to NULL (marked below). That is what the default cascade ("save-update, merge") does with '
                        "children it has in memory: it unlinks them, it never deletes them. Postgres refused "
                        "because document_id is NOT NULL — rightly, a chunk without a document is junk. Ask for the "
                        f'deletion: cascade="all, delete-orphan" on Document.chunks ({where})'
                    )
                fail(f"`session.delete(document)` and a commit failed: {database_reason(error)} ({where})")
    rows = chunk_rows(db)
    left = {c: rows[c] for c in CHUNKS_OF[1] if c in rows}
    if 1 in document_ids(db):
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
        fail(
            f"after `session.delete(document)` and a commit, its chunks {sorted(left)} are still in the table ({where})"
        )
    untouched(db, 1, set())


@check("orphan-deleted", "removing a chunk from document.chunks deletes the chunk (delete-orphan)")
def orphan_deleted(learner, models, tables, db, captured_engine, sql):
    relationships(learner, models)
    Document = models.Document
    seed(db)
    where = learner.where("Document", "chunks")
    with step("`document.chunks.remove(chunk)` and commit", where), Session(captured_engine) as session:
        policy = session.get(Document, 2)
        outdated = next(c for c in policy.chunks if c.id == 201)
        with sql.capture() as log:
            policy.chunks.remove(outdated)
            try:
                session.commit()
            except IntegrityError as error:
                session.rollback()
                nulling = [s for s in log.of_kind("UPDATE", "chunks") if "document_id" in s.shape.set_columns]
                sql.flag(nulling, "unlinks the chunk (document_id = NULL) instead of deleting it")
                fail(
                    "`policy.chunks.remove(chunk)` and a commit failed: Postgres said "
                    f'"{database_reason(error)}". Removed from the collection, the chunk became an orphan, and '
                    "without delete-orphan SQLAlchemy only unlinks an orphan: it sets its document_id to NULL "
                    "(marked below), which the NOT NULL column refuses. A chunk can't exist without its "
                    f'document: add delete-orphan — cascade="all, delete-orphan" on Document.chunks ({where})'
                )
    rows = chunk_rows(db)
    if 201 in rows:
        if rows[201] is None:
            fail(
                "after `policy.chunks.remove(chunk)` and a commit, the chunk is still in the table with document_id "
                'NULL: an orphan. Removing it from the collection must delete it: cascade="all, delete-orphan" '
                f"on Document.chunks, and keep document_id NOT NULL ({where})"
            )
        fail(f"after `policy.chunks.remove(chunk)` and a commit, chunk 201 is still in the table ({where})")
    if not log.of_kind("DELETE", "chunks"):
        fail("chunk 201 is gone, but no DELETE FROM chunks was sent when it was removed from policy.chunks")
    untouched(db, None, {201})


@check("raw-delete-cascades", "a plain SQL DELETE of a document deletes its chunks too (ON DELETE CASCADE)")
def raw_delete_cascades(learner, models, tables, schema, db):
    chunks = schema.table("chunks")
    where = learner.where("Chunk", "document_id")
    fk = chunks.foreign_key("document_id")
    if fk is None:
        fail(f"chunks.document_id has no FOREIGN KEY to documents.id: `{FOREIGN_KEY}` ({where})")
    ondelete = (fk.get("options") or {}).get("ondelete")
    seed(db)
    statement = "DELETE FROM documents WHERE id = 2"
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
    left = sorted(c for c in CHUNKS_OF[2] if c in rows)
    if left:
        fail(
            f"after `{statement}`, the document's chunks {left} are still in the table "
            f"(document_id {'NULL' if rows[left[0]] is None else rows[left[0]]}): the foreign key is ON DELETE "
            f'{ondelete or "NO ACTION"}; it must be ON DELETE CASCADE: ForeignKey("documents.id", ondelete="CASCADE") '
            f"({where})"
        )
    if (ondelete or "").upper() != "CASCADE":
        fail(f"chunks.document_id's foreign key is ON DELETE {ondelete or 'NO ACTION'}; it must be CASCADE ({where})")
    untouched(db, 2, set())


@check(
    "passive-deletes-no-select",
    "deleting a document whose chunks were never loaded sends no SQL on chunks (passive_deletes)",
)
def passive_deletes_no_select(learner, models, tables, schema, db, captured_engine, sql):
    prop = relationships(learner, models)
    Document = models.Document
    seed(db)
    where = learner.where("Document", "chunks")
    ondelete = ondelete_of(schema)
    with step("session.get(Document, 3), session.delete(document) and commit", where), Session(captured_engine) as session:
        with sql.capture() as log:
            faq = session.get(Document, 3)
            session.delete(faq)
            try:
                session.commit()
            except IntegrityError as error:
                session.rollback()
                reason = database_reason(error)
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
        eager = [
            s for s in touching if s.relationship_load or (s.shape.kind == "SELECT" and s.shape.touches("documents"))
        ]
        selects = [s for s in touching if s.shape.kind == "SELECT"]
        writes = [s for s in touching if s.shape.kind != "SELECT"]
        sql.flag(selects, "loads the chunks into the session")
        sql.flag(writes, "one row at a time: work ON DELETE CASCADE does in the database")
        if eager and prop.lazy not in ("select", True, None):
            fail(
                f"Document.chunks is declared lazy={prop.lazy!r}, so loading a document loads all its chunks "
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
            f"(marked below): SQLAlchemy first SELECTs all {len(CHUNKS_OF[3])} chunks into the session, {then}. "
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
    left = sorted(c for c in CHUNKS_OF[3] if c in rows)
    if 3 in document_ids(db):
        fail("after `session.delete(document)` and a commit, the document is still in the table")
    if left:
        fail(
            f"the document was deleted and no SQL touched chunks, but its chunks {left} are still in the table: "
            f"with passive_deletes=True the foreign key must be ON DELETE CASCADE (`{FOREIGN_KEY}`) "
            f"({learner.where('Chunk', 'document_id')})"
        )
    untouched(db, 3, set())
