"""CRUD for DocChat documents through the legacy 1.x Query API."""

from sqlalchemy.orm import Session

from models import Document


def create_document(session: Session, title: str, body: str, owner_id: int) -> Document:
    doc = Document(title=title, body=body, owner_id=owner_id)
    session.add(doc)
    session.commit()
    session.refresh(doc)
    return doc


def list_documents(session: Session, owner_id: int) -> list[Document]:
    return (
        session.query(Document)
        .filter_by(owner_id=owner_id)
        .order_by(Document.created_at.desc())
        .all()
    )


def get_document(session: Session, doc_id: int) -> Document | None:
    return session.query(Document).filter(Document.id == doc_id).first()


def rename_document(session: Session, doc_id: int, title: str) -> Document | None:
    doc = session.query(Document).filter_by(id=doc_id).one_or_none()
    if doc is None:
        return None
    doc.title = title
    session.commit()
    return doc


def delete_document(session: Session, doc_id: int) -> bool:
    doc = session.query(Document).filter_by(id=doc_id).first()
    if doc is None:
        return False
    session.delete(doc)
    session.commit()
    return True
