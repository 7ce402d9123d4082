"""SQLAlchemy's one-time setup, done once in the warm worker instead of in every child.

The first declarative class, the first mapper configuration, the first compilation of each kind
of statement and the first ``Session`` pull in lazy imports and fill class-level caches; a child
forked afterwards inherits all of it. Nothing is left behind: the models live in a registry of
their own, disposed at the end, and no connection is made.

(No ``from __future__ import annotations`` here: declarative resolves these annotations at class
creation, so they must be real objects.)
"""

from datetime import datetime

from sqlalchemy import ForeignKey, String, create_engine, delete, func, insert, select, update
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    configure_mappers,
    joinedload,
    mapped_column,
    relationship,
    selectinload,
)
from sqlalchemy.schema import CreateTable


def run() -> None:
    class Base(DeclarativeBase):
        pass

    class Owner(Base):
        __tablename__ = "warm_owner"
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(String(50), unique=True)
        note: Mapped[str | None]
        items: Mapped[list["Item"]] = relationship(back_populates="owner", cascade="all, delete-orphan")

    class Item(Base):
        __tablename__ = "warm_item"
        id: Mapped[int] = mapped_column(primary_key=True)
        owner_id: Mapped[int] = mapped_column(ForeignKey("warm_owner.id"))
        created: Mapped[datetime] = mapped_column(server_default=func.now())
        owner: Mapped[Owner] = relationship(back_populates="items")

    try:
        configure_mappers()
        engine = create_engine("postgresql+psycopg://warm@/warm")
        dialect = engine.dialect
        statements = [
            select(Owner).options(selectinload(Owner.items)).where(Owner.id == 1).order_by(Owner.name),
            select(Item).options(joinedload(Item.owner)).limit(3),
            select(func.count()).select_from(Item),
            insert(Owner).values(name="x"),
            update(Item).where(Item.id == 1).values(owner_id=2),
            delete(Item).where(Item.owner_id == 2),
        ]
        for statement in statements:
            statement.compile(dialect=dialect)
        for table in Base.metadata.sorted_tables:
            CreateTable(table).compile(dialect=dialect)
        with Session(engine) as session:
            session.add(Owner(name="x", items=[Item()]))  # instrumentation only: nothing is flushed
            session.expunge_all()
        engine.dispose()
    finally:
        Base.registry.dispose()
