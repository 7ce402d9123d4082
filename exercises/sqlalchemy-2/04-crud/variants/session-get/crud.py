"""CRUD for DocChat documents: primary-key lookups through session.get()."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Document


def create_document(session: Session, title: str, body: str, owner_id: int) -> Document:
    doc = Document(title=title, body=body, owner_id=owner_id)
    session.add(doc)
    session.commit()
    return doc  # expired by the commit; the next attribute access reloads it


def list_documents(session: Session, owner_id: int) -> list[Document]:
    return list(
        session.scalars(
            select(Document)
            .filter_by(owner_id=owner_id)
            .order_by(Document.created_at.desc(), Document.id.desc())
        )
    )


def get_document(session: Session, doc_id: int) -> Document | None:
    return session.get(Document, doc_id)


def rename_document(session: Session, doc_id: int, title: str) -> Document | None:
    doc = session.get(Document, doc_id)
    if doc is not None:
        doc.title = title
        session.commit()
    return doc


def delete_document(session: Session, doc_id: int) -> bool:
    doc = session.get(Document, doc_id)
    if doc is None:
        return False
    session.delete(doc)
    session.commit()
    return True
