"""DocChat models: tags hung off documents with a foreign key, the one-to-many shape."""

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
    bookmarks: Mapped[list["Bookmark"]] = relationship(back_populates="user")


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str]
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    owner: Mapped["User"] = relationship(back_populates="documents")
    tags: Mapped[list["Tag"]] = relationship(back_populates="document")
    bookmarks: Mapped[list["Bookmark"]] = relationship(back_populates="document")


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))

    document: Mapped["Document | None"] = relationship(back_populates="tags")


class Bookmark(Base):
    """Association object: a user bookmarked a document, with data of its own."""

    __tablename__ = "bookmarks"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(server_default=func.now())
    note: Mapped[str | None] = mapped_column(String(200))

    user: Mapped["User"] = relationship(back_populates="bookmarks")
    document: Mapped["Document"] = relationship(back_populates="bookmarks")
