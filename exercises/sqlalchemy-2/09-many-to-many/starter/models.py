"""DocChat models - now with tags and bookmarks.

Lesson section 9, "Many-to-many relationships". ``User`` and ``Document`` (with
``user.documents`` <-> ``doc.owner``) are what you built in exercises 02 and 05. Add two
many-to-many links:

1. Tags. A document carries many tags and a tag labels many documents. The link holds
   nothing but the two ids, so it is a plain association *table* (no class):

       document_tag: document_id -> documents.id, tag_id -> tags.id
                     the pair is the primary key (a document can't carry a tag twice)

   and the ``Tag`` model -> table ``tags``: ``id`` primary key, ``name`` VARCHAR(50),
   NOT NULL and UNIQUE. Then the two navigations, wired to each other and going
   *through* ``document_tag``:

       doc.tags       -> list of Tag objects
       tag.documents  -> list of Document objects

2. Bookmarks. A user bookmarks a document *with data of its own*: when, and a note. That
   data belongs to the pair, so the link is a mapped class, an association object:

       Bookmark -> table ``bookmarks``
           user_id      -> users.id      } together the primary key
           document_id  -> documents.id  }
           added_at     timestamp, NOT NULL, filled in by Postgres with now()
           note         VARCHAR(200), may be NULL

   navigated through it, each pair of attributes wired to each other:

       user.bookmarks     -> list of Bookmark      bookmark.user      -> User
       doc.bookmarks      -> list of Bookmark      bookmark.document  -> Document

``db.py`` (provided) holds the engine; the grader runs its sessions on it.
"""

from datetime import datetime

from sqlalchemy import Column, ForeignKey, String, Table, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


# TODO: document_tag - a Table(...) on Base.metadata (it needs no class). Column(...) is
#       the right tool *inside* a Core Table.


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str | None] = mapped_column(String(100))

    documents: Mapped[list["Document"]] = relationship(back_populates="owner")

    # TODO: bookmarks - this user's Bookmark objects.


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str]
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    owner: Mapped["User"] = relationship(back_populates="documents")

    # TODO: tags - this document's Tag objects, through document_tag.
    # TODO: bookmarks - the Bookmark objects pointing at this document.


# TODO: class Tag - table "tags".


# TODO: class Bookmark - table "bookmarks", the association object.
