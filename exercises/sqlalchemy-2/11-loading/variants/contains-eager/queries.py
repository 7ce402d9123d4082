"""An explicit JOIN, told to fill Document.owner with contains_eager()."""

from sqlalchemy import select
from sqlalchemy.orm import Session, contains_eager, selectinload

from models import Document, User


def users_with_documents(session: Session) -> list[User]:
    stmt = select(User).order_by(User.email).options(selectinload(User.documents))
    return session.scalars(stmt).all()


def documents_with_owners(session: Session) -> list[Document]:
    stmt = (
        select(Document)
        .join(Document.owner)
        .options(contains_eager(Document.owner))
        .order_by(User.email, Document.id)
    )
    return session.scalars(stmt).all()
