"""CRUD for DocChat documents through the ORM, 2.0 style.

Every function receives an open ``Session`` from the caller and commits its own
writes. Reads use ``select()``; writes change objects and let the session emit the SQL.
"""

from sqlalchemy import select
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
        .order_by(Document.id.desc())
    )
    return list(session.scalars(stmt).all())


def get_document(session: Session, doc_id: int) -> Document | None:
    return session.scalars(select(Document).where(Document.id == doc_id)).first()


def rename_document(session: Session, doc_id: int, title: str) -> Document | None:
    doc = get_document(session, doc_id)
    if doc is None:
        return None
    doc.title = title  # dirty tracking: the commit emits UPDATE ... SET title
    session.commit()
    return doc


def delete_document(session: Session, doc_id: int) -> bool:
    doc = get_document(session, doc_id)
    if doc is None:
        return False
    session.delete(doc)
    session.commit()
    return True
