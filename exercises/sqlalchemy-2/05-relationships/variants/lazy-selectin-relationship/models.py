"""DocChat models with a one-to-many relationship: a User owns many Documents.

``owner_id`` (the ForeignKey) is the column; ``User.documents`` and ``Document.owner``
are the Python attributes that navigate it. ``back_populates`` names the other side,
so both stay in sync in memory.
"""

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

    # eager by default: every query for users also loads their documents
    documents: Mapped[list["Document"]] = relationship(back_populates="owner", lazy="selectin")


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str]
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    owner: Mapped["User"] = relationship(back_populates="documents")
