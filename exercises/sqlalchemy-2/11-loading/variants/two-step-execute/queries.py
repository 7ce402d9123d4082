"""Statements built in steps, run with session.execute(...).scalars()."""

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from models import Document, User


def users_with_documents(session: Session) -> list[User]:
    stmt = select(User)
    stmt = stmt.options(selectinload(User.documents))  # options() returns a new statement
    return session.execute(stmt).scalars().all()


def documents_with_owners(session: Session) -> list[Document]:
    stmt = select(Document).order_by(Document.created_at.desc())
    stmt = stmt.options(joinedload(Document.owner))
    return session.execute(stmt).scalars().all()
