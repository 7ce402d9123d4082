"""DocChat models with two many-to-many links.

Tags: a plain association table (``document_tag``, no class) and ``relationship(secondary=...)``
on both sides. Bookmarks: the link carries data of its own (``added_at``, ``note``), so it is
a mapped class, an association object, navigated *through*: user -> Bookmark -> Document.
"""

from datetime import datetime

from sqlalchemy import Column, ForeignKey, String, Table, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


# Association table: two foreign keys forming a composite primary key. No class.
document_tag = Table(
    "document_tag",
    Base.metadata,
    Column("document_id", ForeignKey("documents.id"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id"), primary_key=True),
)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str | None] = mapped_column(String(100))

    documents: Mapped[list["Document"]] = relationship(back_populates="owner")
    bookmarks: Mapped[list["Bookmark"]] = relationship(back_populates="user")


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str]
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    owner: Mapped["User"] = relationship(back_populates="documents")
    tags: Mapped[list["Tag"]] = relationship(secondary=document_tag, back_populates="documents", cascade="merge")
    bookmarks: Mapped[list["Bookmark"]] = relationship(back_populates="document")


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)

    documents: Mapped[list["Document"]] = relationship(secondary=document_tag, back_populates="tags")


class Bookmark(Base):
    """Association object: a user bookmarked a document, with data of its own."""

    __tablename__ = "bookmarks"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(server_default=func.now())
    note: Mapped[str | None] = mapped_column(String(200))

    user: Mapped["User"] = relationship(back_populates="bookmarks")
    document: Mapped["Document"] = relationship(back_populates="bookmarks")
