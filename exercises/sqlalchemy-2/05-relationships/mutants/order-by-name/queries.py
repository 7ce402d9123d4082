"""Queries that load users together with their documents - without the N+1."""

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from models import User


def users_with_documents(session: Session) -> list[User]:
    """Every user, ordered by id, with ``user.documents`` already loaded.

    selectinload adds exactly one more query - ``... WHERE documents.owner_id IN (...)`` -
    however many users there are.
    """
    stmt = select(User).options(selectinload(User.documents)).order_by(User.name)
    return list(session.scalars(stmt).all())
