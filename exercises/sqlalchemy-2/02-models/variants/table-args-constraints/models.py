"""DocChat models: constraints declared at table level in __table_args__."""

from datetime import datetime

from sqlalchemy import ForeignKeyConstraint, String, UniqueConstraint, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("email", name="uq_users_email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(100))


class Document(Base):
    __tablename__ = "documents"
    __table_args__ = (ForeignKeyConstraint(["owner_id"], ["users.id"]),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str]
    owner_id: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(server_default=func.current_timestamp())
