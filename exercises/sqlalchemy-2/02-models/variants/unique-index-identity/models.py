"""DocChat models: IDENTITY primary keys, a unique index on email, a named foreign key."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Identity, Integer, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True, index=True)
    name: Mapped[str | None] = mapped_column(String(length=100), default=None)


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(Identity(always=False), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str]
    owner_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", name="fk_documents_owner_id_users")
    )
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
