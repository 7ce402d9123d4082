"""CRUD for DocChat documents: bulk update()/delete() constructs and their rowcount."""

from sqlalchemy import delete, select, update
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
    return list(session.scalars(stmt).all())


def get_document(session: Session, doc_id: int) -> Document | None:
    return session.scalars(select(Document).where(Document.id == doc_id)).first()


def rename_document(session: Session, doc_id: int, title: str) -> Document | None:
    result = session.execute(
        update(Document).where(Document.id == doc_id).values(title=title)
    )
    session.commit()
    if result.rowcount == 0:
        return None
    return session.get(Document, doc_id)


def delete_document(session: Session, doc_id: int) -> bool:
    result = session.execute(delete(Document).where(Document.id == doc_id))
    session.commit()
    return result.rowcount > 0
