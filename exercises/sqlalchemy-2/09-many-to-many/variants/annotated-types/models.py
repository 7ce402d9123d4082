"""DocChat models with reusable Annotated column types."""

from datetime import datetime
from typing import Annotated

from sqlalchemy import Column, ForeignKey, String, Table, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

intpk = Annotated[int, mapped_column(primary_key=True)]
user_fk = Annotated[int, mapped_column(ForeignKey("users.id"))]
user_pk_fk = Annotated[int, mapped_column(ForeignKey("users.id"), primary_key=True)]
document_pk_fk = Annotated[int, mapped_column(ForeignKey("documents.id"), primary_key=True)]
created_now = Annotated[datetime, mapped_column(server_default=func.now())]
str50 = Annotated[str, mapped_column(String(50))]
str100 = Annotated[str, mapped_column(String(100))]
str200 = Annotated[str, mapped_column(String(200))]
str255 = Annotated[str, mapped_column(String(255))]


class Base(DeclarativeBase):
    pass


document_tag = Table(
    "document_tag",
    Base.metadata,
    Column("document_id", ForeignKey("documents.id"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id"), primary_key=True),
)


class User(Base):
    __tablename__ = "users"

    id: Mapped[intpk]
    email: Mapped[str255] = mapped_column(unique=True)
    name: Mapped[str100 | None]

    documents: Mapped[list["Document"]] = relationship(back_populates="owner")
    bookmarks: Mapped[list["Bookmark"]] = relationship(back_populates="user")


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[intpk]
    title: Mapped[str200]
    body: Mapped[str]
    owner_id: Mapped[user_fk]
    created_at: Mapped[created_now]

    owner: Mapped["User"] = relationship(back_populates="documents")
    tags: Mapped[list["Tag"]] = relationship(secondary=document_tag, back_populates="documents")
    bookmarks: Mapped[list["Bookmark"]] = relationship(back_populates="document")


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[intpk]
    name: Mapped[str50] = mapped_column(unique=True)

    documents: Mapped[list["Document"]] = relationship(secondary=document_tag, back_populates="tags")


class Bookmark(Base):
    __tablename__ = "bookmarks"

    user_id: Mapped[user_pk_fk]
    document_id: Mapped[document_pk_fk]
    added_at: Mapped[created_now]
    note: Mapped[str200 | None]

    user: Mapped["User"] = relationship(back_populates="bookmarks")
    document: Mapped["Document"] = relationship(back_populates="bookmarks")
