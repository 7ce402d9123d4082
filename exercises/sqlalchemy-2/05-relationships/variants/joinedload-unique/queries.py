"""Users with their documents in a single query: joinedload + unique()."""

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from models import User


def users_with_documents(session: Session) -> list[User]:
    # The LEFT OUTER JOIN repeats each user once per document; .unique() folds
    # those rows back into one User each (SQLAlchemy insists on it for collections).
    stmt = select(User).options(joinedload(User.documents)).order_by(User.id)
    return list(session.scalars(stmt).unique().all())
