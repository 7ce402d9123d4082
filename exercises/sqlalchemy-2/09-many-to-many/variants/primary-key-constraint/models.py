"""DocChat models: composite keys declared as constraints rather than primary_key=True flags."""

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Integer, PrimaryKeyConstraint, String, Table, func
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
    owner_id: Mapped[int] = mapped_column(ForeignKey(User.id))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    owner: Mapped[User] = relationship(back_populates="documents")
    tags: Mapped[list["Tag"]] = relationship(secondary="document_tag", back_populates="documents")
    bookmarks: Mapped[list["Bookmark"]] = relationship(back_populates="document")


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True, nullable=False)

    documents: Mapped[list[Document]] = relationship(secondary="document_tag", back_populates="tags")


document_tag = Table(
    "document_tag",
    Base.metadata,
    Column("document_id", Integer, ForeignKey(Document.id), nullable=False),
    Column("tag_id", Integer, ForeignKey(Tag.id), nullable=False),
    PrimaryKeyConstraint("document_id", "tag_id", name="document_tag_pkey"),
)


class Bookmark(Base):
    __tablename__ = "bookmarks"
    __table_args__ = (PrimaryKeyConstraint("user_id", "document_id"),)

    user_id: Mapped[int] = mapped_column(ForeignKey(User.id))
    document_id: Mapped[int] = mapped_column(ForeignKey(Document.id))
    added_at: Mapped[datetime] = mapped_column(server_default=func.now(), nullable=False)
    note: Mapped[str | None] = mapped_column(String(200), nullable=True)

    user: Mapped[User] = relationship(back_populates="bookmarks")
    document: Mapped[Document] = relationship(back_populates="bookmarks")
