"""DocChat models - now with relationships.

Lesson section 5, "Relationships & loading". The columns below are the ones you
built in exercise 02. ``owner_id`` already links a document to its user *in the
database*; your job is to add the two Python attributes that navigate that link:

    user.documents   -> list of the user's Document objects
    doc.owner        -> the User who owns the document

Declare them with ``relationship()`` and wire them to each other, so that changing
one side in memory updates the other side straight away (before anything is saved).
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

    # TODO: documents - a list of this user's Document objects.


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str]
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    # TODO: owner - the User this document belongs to.
