from sqlalchemy import func, select  # noqa: F401 - you will need them
from sqlalchemy.ext.asyncio import AsyncSession

from models import Account, Order


async def find_account(session: AsyncSession, email: str) -> Account | None:
    raise NotImplementedError("TODO: the live account with this e-mail, whatever its case")


async def recent_orders(session: AsyncSession, account_id: int, limit: int = 5) -> list[Order]:
    raise NotImplementedError("TODO: the account's newest orders, newest first")
