"""CRUD for DocChat documents: session.execute(...) with Result helpers."""

from sqlalchemy import desc, select
from sqlalchemy.orm import Session

from models import Document


def create_document(session: Session, title: str, body: str, owner_id: int) -> Document:
    doc = Document(title=title, body=body, owner_id=owner_id)
    session.add(doc)
    session.flush()
    session.commit()
    session.refresh(doc)
    return doc


def list_documents(session: Session, owner_id: int) -> list[Document]:
    stmt = select(Document).where(Document.owner_id == owner_id).order_by(desc(Document.created_at))
    return session.execute(stmt).scalars().all()


def get_document(session: Session, doc_id: int) -> Document | None:
    return session.execute(select(Document).where(Document.id == doc_id)).scalar_one_or_none()


def rename_document(session: Session, doc_id: int, title: str) -> Document | None:
    doc = session.execute(select(Document).filter(Document.id == doc_id)).scalars().first()
    if doc is None:
        return None
    doc.title = title
    session.commit()
    session.refresh(doc)
    return doc


def delete_document(session: Session, doc_id: int) -> bool:
    doc = get_document(session, doc_id)
    if doc is None:
        return False
    session.delete(doc)
    session.commit()
    return True
