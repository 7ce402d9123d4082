"""Loads the documents eagerly, then commits: the commit expires everything it loaded."""

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from models import User


def users_with_documents(session: Session) -> list[User]:
    stmt = select(User).options(selectinload(User.documents)).order_by(User.id)
    users = list(session.scalars(stmt).all())
    session.commit()  # nothing to commit, and every loaded attribute is now expired
    return users
