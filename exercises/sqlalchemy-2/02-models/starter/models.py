"""DocChat models, declared the SQLAlchemy 2.0 way.

Your job: finish ``User`` and ``Document`` so that ``Base.metadata.create_all()``
builds these two tables in Postgres (lesson section 2, "2.0 declarative models"):

    users      id          integer, primary key (auto-increment)
               email       varchar(255), NOT NULL, UNIQUE
               name        varchar(100), NULL allowed

    documents  id          integer, primary key (auto-increment)
               title       varchar(200), NOT NULL
               body        text (any length), NOT NULL
               owner_id    integer, NOT NULL, foreign key -> users.id
               created_at  timestamp, NOT NULL, filled in by Postgres with now()

Write it in 2.0 style: ``Mapped[...]`` annotations plus ``mapped_column()``.
No ``Column(...)``, no ``declarative_base()`` - those are the 1.x spellings.
"""

from datetime import datetime

from sqlalchemy import ForeignKey, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # TODO: email - at most 255 characters, required, no two users may share one.
    # TODO: name  - at most 100 characters, optional.
    #       Remember: the annotation decides NULL / NOT NULL.


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    # TODO: title      - at most 200 characters, required.
    # TODO: body       - text of any length, required. (Does it even need mapped_column()?)
    # TODO: owner_id   - the id of the user who owns the document (a foreign key).
    # TODO: created_at - a datetime that *Postgres* fills in when the row is inserted,
    #                    even when the INSERT does not mention the column.
