"""DocChat models, using reusable Annotated column types."""

from datetime import datetime
from typing import Annotated

from sqlalchemy import ForeignKey, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

intpk = Annotated[int, mapped_column(primary_key=True)]
str100 = Annotated[str, mapped_column(String(100))]
str200 = Annotated[str, mapped_column(String(200))]
str255 = Annotated[str, mapped_column(String(255))]
created_now = Annotated[datetime, mapped_column(server_default=func.now())]


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[intpk]
    email: Mapped[str255] = mapped_column(unique=True)
    name: Mapped[str100 | None]


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[intpk]
    title: Mapped[str200]
    body: Mapped[str]
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[created_now]
