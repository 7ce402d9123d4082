from sqlalchemy import desc, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models import Account, Order


async def find_account(session: AsyncSession, email: str) -> Account | None:
    result = await session.execute(
        select(Account).where(Account.deleted_at.is_(None)).where(func.lower(Account.email) == func.lower(email))
    )
    return result.scalars().one_or_none()


async def recent_orders(session: AsyncSession, account_id: int, limit: int = 5) -> list[Order]:
    result = await session.execute(select(Order).filter_by(account_id=account_id).order_by(desc(Order.created_at)).limit(limit))
    return list(result.scalars())
