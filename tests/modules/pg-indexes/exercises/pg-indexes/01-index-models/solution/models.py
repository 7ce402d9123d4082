from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255))
    deleted_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (Index("ux_accounts_email_live", func.lower(email), unique=True, postgresql_where=deleted_at.is_(None)),)


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    created_at: Mapped[datetime]
    total: Mapped[int]

    __table_args__ = (Index("ix_orders_account_created", "account_id", "created_at"),)
