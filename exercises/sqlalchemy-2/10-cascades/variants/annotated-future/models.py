"""DocChat models with Annotated aliases and postponed annotations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, List, Optional

from sqlalchemy import ForeignKey, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

intpk = Annotated[int, mapped_column(primary_key=True)]
owned_by_document = Annotated[int, mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), nullable=False)]


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[intpk]
    email: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[Optional[str]] = mapped_column(String(100))

    documents: Mapped[List[Document]] = relationship(back_populates="owner")


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[intpk]
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str]
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    owner: Mapped[User] = relationship(back_populates="documents")
    chunks: Mapped[List[Chunk]] = relationship(
        back_populates="document", cascade="all, delete-orphan", passive_deletes=True
    )


class Chunk(Base):
    __tablename__ = "chunks"

    id: Mapped[intpk]
    text: Mapped[str]
    document_id: Mapped[owned_by_document]

    document: Mapped[Document] = relationship(back_populates="chunks")
