"""DocChat models: bookmarks as a second plain secondary table."""

from datetime import datetime

from sqlalchemy import Column, DateTime, ForeignKey, String, Table, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


document_tag = Table(
    "document_tag",
    Base.metadata,
    Column("document_id", ForeignKey("documents.id"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id"), primary_key=True),
)

bookmarks = Table(
    "bookmarks",
    Base.metadata,
    Column("user_id", ForeignKey("users.id"), primary_key=True),
    Column("document_id", ForeignKey("documents.id"), primary_key=True),
    Column("added_at", DateTime, nullable=False, server_default=func.now()),
    Column("note", String(200)),
)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str | None] = mapped_column(String(100))

    documents: Mapped[list["Document"]] = relationship(back_populates="owner")
    bookmarks: Mapped[list["Document"]] = relationship(secondary=bookmarks, back_populates="bookmarked_by")


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str]
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    owner: Mapped["User"] = relationship(back_populates="documents")
    tags: Mapped[list["Tag"]] = relationship(secondary=document_tag, back_populates="documents")
    bookmarked_by: Mapped[list["User"]] = relationship(secondary=bookmarks, back_populates="bookmarks")


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)

    documents: Mapped[list["Document"]] = relationship(secondary=document_tag, back_populates="tags")
