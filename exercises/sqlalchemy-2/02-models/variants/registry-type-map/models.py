"""DocChat models: the Base carries a type_annotation_map, so annotations pick the SQL types."""

import datetime as dt
from typing import Annotated

from sqlalchemy import TIMESTAMP, ForeignKey, String, Text, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, registry

Str100 = Annotated[str, 100]
Str200 = Annotated[str, 200]
Str255 = Annotated[str, 255]


class Base(DeclarativeBase):
    registry = registry(
        type_annotation_map={
            str: Text(),
            Str100: String(100),
            Str200: String(200),
            Str255: String(255),
            dt.datetime: TIMESTAMP(timezone=False),
        }
    )


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[Str255] = mapped_column(unique=True)
    name: Mapped[Str100 | None]


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[Str200]
    body: Mapped[str]
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
