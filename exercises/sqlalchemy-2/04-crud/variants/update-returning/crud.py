"""CRUD for DocChat documents: rename with an ORM-enabled UPDATE ... RETURNING."""

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models import Document


def create_document(session: Session, title: str, body: str, owner_id: int) -> Document:
    doc = Document(title=title, body=body, owner_id=owner_id)
    session.add(doc)
    session.commit()
    session.refresh(doc)
    return doc


def list_documents(session: Session, owner_id: int) -> list[Document]:
    stmt = (
        select(Document)
        .where(Document.owner_id == owner_id)
        .order_by(Document.created_at.desc())
    )
    return list(session.scalars(stmt))


def get_document(session: Session, doc_id: int) -> Document | None:
    return session.scalars(select(Document).where(Document.id == doc_id).limit(1)).one_or_none()


def rename_document(session: Session, doc_id: int, title: str) -> Document | None:
    stmt = (
        update(Document)
        .where(Document.id == doc_id)
        .values(title=title)
        .returning(Document)
    )
    doc = session.scalars(stmt).one_or_none()
    session.commit()
    return doc


def delete_document(session: Session, doc_id: int) -> bool:
    doc = session.get(Document, doc_id)
    if doc is None:
        return False
    session.delete(doc)
    session.commit()
    return True
