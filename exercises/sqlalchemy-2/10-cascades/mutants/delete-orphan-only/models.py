"""DocChat models: a document's chunks live and die with it.

Three settings, at two levels:
- ``cascade="all, delete-orphan"`` (ORM): ``session.delete(doc)`` deletes its chunks too, and
  a chunk removed from ``doc.chunks`` is deleted.
- ``ondelete="CASCADE"`` on the foreign key (database): Postgres deletes a document's chunks
  whenever the document row is deleted, whoever deletes it.
- ``passive_deletes=True`` (ORM): chunks that are not loaded are left to that ON DELETE
  CASCADE instead of being SELECTed only to be deleted one by one.
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
    chunks: Mapped[list["Chunk"]] = relationship(
        back_populates="document",
        cascade="delete-orphan",   # ORM: orphans deleted (and nothing else: no save-update)
        passive_deletes=True,           # ...but let Postgres do the deleting
    )


class Chunk(Base):
    __tablename__ = "chunks"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str]
    document_id: Mapped[int] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE")   # database: ON DELETE CASCADE
    )

    document: Mapped["Document"] = relationship(back_populates="chunks")
