from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, func  # noqa: F401 - you will need them
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255))
    deleted_at: Mapped[datetime | None] = mapped_column()

    # TODO: one live account per e-mail, whatever its case


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    created_at: Mapped[datetime]
    total: Mapped[int]

    # TODO: an account's orders, newest first
