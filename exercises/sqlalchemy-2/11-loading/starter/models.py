"""DocChat models - the relationships you built in exercise 05.

Lesson section 11, "Loading strategies compared". ``User.documents`` is still
loaded lazily by default (``lazy="select"``): touch it on a user whose documents
were not loaded and SQLAlchemy quietly sends a SELECT. Inside a loop that is the
N+1 problem, and nothing warns you.

Your job here: make a forgotten eager load an *error* instead. Give
``User.documents`` a ``lazy=`` setting that refuses to load on access (see the
lesson's table of strategies). ``Document.owner`` stays as it is.
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

    # TODO: accessing user.documents without an eager load must raise, not query.
    documents: Mapped[list["Document"]] = relationship(back_populates="owner")


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str]
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    owner: Mapped["User"] = relationship(back_populates="documents")
