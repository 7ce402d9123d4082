"""Loading strategies chosen per relationship: selectinload for the collection,
joinedload for the single parent."""

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from models import Document, User


def users_with_documents(session: Session) -> list[User]:
    """Every user with ``user.documents`` loaded.

    A collection: selectinload sends one more query, ``... WHERE documents.owner_id
    IN (...)``, and each document row arrives once.
    """
    stmt = select(User).options(selectinload(User.documents)).order_by(User.id)
    return list(session.scalars(stmt).all())


def documents_with_owners(session: Session) -> list[Document]:
    """Every document with ``document.owner`` loaded.

    A many-to-one: joinedload adds the owner's columns to the same query (one JOIN,
    no extra rows, no second round trip).
    """
    # no loader option: "preload" each owner by touching it (one lazy SELECT per owner)
    documents = list(session.scalars(select(Document).order_by(Document.id)).all())
    for document in documents:
        document.owner
    return documents
