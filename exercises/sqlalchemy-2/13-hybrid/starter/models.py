"""DocChat models - add a rule that works on objects *and* in queries.

Lesson section 13, "Hybrid properties". A document is *long* when its body has
more than 5000 characters. DocChat needs that rule in two places:

    if doc.is_long: ...                          # on a loaded object: True or False
    select(Document).where(Document.is_long)     # in a query: Postgres filters

Add ``is_long`` to ``Document`` as a hybrid property. Careful: on an instance,
``self.body`` is a Python ``str``; on the class, ``cls.body`` is a column, and only
SQL expressions (such as ``func.length(...)``) make sense there. One function
cannot serve both sides - read "The tempting version, and why it's broken" in
the lesson before you start.
"""

from datetime import datetime

from sqlalchemy import ColumnElement, ForeignKey, String, func  # noqa: F401
from sqlalchemy.ext.hybrid import hybrid_property  # noqa: F401
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str | None] = mapped_column(String(100))


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str]
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    # TODO: is_long - True when body has more than 5000 characters.
    #   on an instance: a Python bool
    #   on the class:   an SQL expression using the database's length function
