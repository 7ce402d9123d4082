"""DocChat models with other type spellings: Unicode / VARCHAR / UnicodeText, a TIMESTAMP column
and a server default written as SQL text."""

import datetime as dt

from sqlalchemy import TIMESTAMP, VARCHAR, ForeignKey, Unicode, UnicodeText, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(Unicode(255), nullable=False, unique=True)
    name: Mapped[str | None] = mapped_column(VARCHAR(length=100), nullable=True)


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(VARCHAR(200))
    body: Mapped[str] = mapped_column(UnicodeText)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP, server_default=text("CURRENT_TIMESTAMP"))
