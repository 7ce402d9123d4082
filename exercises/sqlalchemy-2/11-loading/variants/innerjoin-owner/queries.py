"""owner_id is NOT NULL, so the owner join can be an INNER JOIN; no ordering at all."""

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from models import Document, User


def users_with_documents(session: Session) -> list[User]:
    return list(session.scalars(select(User).options(selectinload(User.documents))))


def documents_with_owners(session: Session) -> list[Document]:
    stmt = select(Document).options(joinedload(Document.owner, innerjoin=True))
    return list(session.scalars(stmt))
