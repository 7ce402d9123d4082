"""Load exactly what is needed and lock everything else with raiseload("*")."""

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, raiseload, selectinload

from models import Document, User


def users_with_documents(session: Session) -> list[User]:
    stmt = (
        select(User)
        .options(selectinload(User.documents), raiseload("*"))
        .order_by(User.id.desc())
    )
    return list(session.scalars(stmt).all())


def documents_with_owners(session: Session) -> list[Document]:
    stmt = select(Document).options(joinedload(Document.owner), raiseload("*"))
    return list(session.scalars(stmt).all())
