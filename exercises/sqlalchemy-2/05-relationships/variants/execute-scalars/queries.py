"""Users with their documents: session.execute(...).scalars() and a selectinload option."""

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from models import User


def users_with_documents(session: Session) -> list[User]:
    stmt = (
        select(User)
        .order_by(User.id)
        .options(selectinload(User.documents))
        .execution_options(populate_existing=True)
    )
    result = session.execute(stmt)
    return [user for user in result.scalars()]
