"""DocChat models: relationship targets and the secondary table named by string."""

from __future__ import annotations

from datetime import datetime
from typing import List, Optional

from sqlalchemy import Column, ForeignKey, String, Table, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[Optional[str]] = mapped_column(String(100))

    documents: Mapped[List[Document]] = relationship("Document", back_populates="owner")
    bookmarks: Mapped[List[Bookmark]] = relationship("Bookmark", back_populates="user")


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str]
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    owner: Mapped[User] = relationship("User", back_populates="documents")
    tags: Mapped[List[Tag]] = relationship(
        "Tag", secondary="document_tag", back_populates="documents", order_by="Tag.name"
    )
    bookmarks: Mapped[List[Bookmark]] = relationship("Bookmark", back_populates="document")


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)

    documents: Mapped[List[Document]] = relationship(
        "Document", secondary="document_tag", back_populates="tags"
    )


class Bookmark(Base):
    __tablename__ = "bookmarks"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(server_default=func.now())
    note: Mapped[Optional[str]] = mapped_column(String(200))

    user: Mapped[User] = relationship("User", back_populates="bookmarks")
    document: Mapped[Document] = relationship("Document", back_populates="bookmarks")


# declared last: relationship(secondary="document_tag") finds it by name when mappers configure
document_tag = Table(
    "document_tag",
    Base.metadata,
    Column("document_id", ForeignKey("documents.id"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id"), primary_key=True),
)
