from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models import Account, Order


async def find_account(session: AsyncSession, email: str) -> Account | None:
    stmt = select(Account).where(func.lower(Account.email) == email.lower())
    return (await session.scalars(stmt)).first()


async def recent_orders(session: AsyncSession, account_id: int, limit: int = 5) -> list[Order]:
    stmt = select(Order).where(Order.account_id == account_id).order_by(Order.created_at.desc()).limit(limit)
    return list((await session.scalars(stmt)).all())
