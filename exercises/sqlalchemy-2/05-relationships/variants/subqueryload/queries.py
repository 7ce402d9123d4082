"""Users with their documents: subqueryload, the older eager-loading strategy."""

from sqlalchemy import select
from sqlalchemy.orm import Session, subqueryload

from models import User


def users_with_documents(session: Session) -> list[User]:
    stmt = select(User).order_by(User.id.asc()).options(subqueryload(User.documents))
    return session.scalars(stmt).all()
