"""DocChat models: backref= on one side of each link, a unique index, timestamptz."""

from datetime import datetime
from typing import Optional

from sqlalchemy import Column, DateTime, ForeignKey, Index, String, Table, func, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


document_tag = Table(
    "document_tag",
    Base.metadata,
    Column("document_id", ForeignKey("documents.id", name="document_tag_document_fk"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", name="document_tag_tag_fk"), primary_key=True),
)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[Optional[str]] = mapped_column(String(100))

    documents: Mapped[list["Document"]] = relationship(back_populates="owner")


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str]
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    owner: Mapped["User"] = relationship(back_populates="documents")
    # backref= creates Tag.documents, already wired to this side
    tags: Mapped[list["Tag"]] = relationship(secondary=document_tag, backref="documents")


class Tag(Base):
    __tablename__ = "tags"
    __table_args__ = (Index("tags_name_key", "name", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


class Bookmark(Base):
    __tablename__ = "bookmarks"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    note: Mapped[Optional[str]] = mapped_column(String(200))

    # backref= creates User.bookmarks and Document.bookmarks
    user: Mapped["User"] = relationship(backref="bookmarks")
    document: Mapped["Document"] = relationship(backref="bookmarks")
