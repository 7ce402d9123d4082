"""The relationship itself is declared lazy="selectin", so a plain select() is enough."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import User


def users_with_documents(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.id)))
