"""DocChat models - now with chunks.

Lesson section 10, "Cascades & delete behavior". ``User`` and ``Document`` (with
``user.documents`` <-> ``doc.owner``) are what you built in exercises 02 and 05.

DocChat splits a document's body into chunks. A chunk only makes sense as part of its
document, so:

    Chunk -> table ``chunks``
        id           integer primary key
        text         the chunk's text, NOT NULL
        document_id  NOT NULL, foreign key to documents.id; when the document row is
                     deleted, Postgres deletes its chunks (ON DELETE CASCADE)

    doc.chunks       -> list of the document's Chunk objects
    chunk.document   -> its Document (the two wired to each other)

and the ORM side of ``doc.chunks`` must:
    - delete a document's chunks when the document is deleted with session.delete(doc);
    - delete a chunk that is removed from doc.chunks (a chunk can't exist on its own);
    - leave chunks it has not loaded to the database's ON DELETE CASCADE, instead of
      SELECTing them only to delete them one by one.
"""

from datetime import datetime

from sqlalchemy import ForeignKey, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str | None] = mapped_column(String(100))

    documents: Mapped[list["Document"]] = relationship(back_populates="owner")


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str]
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    owner: Mapped["User"] = relationship(back_populates="documents")

    # TODO: chunks - this document's Chunk objects, and what happens to them on delete.


# TODO: class Chunk - table "chunks".
