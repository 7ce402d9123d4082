"""CRUD for DocChat documents through the ORM, 2.0 style.

Lesson section 4, "CRUD through the ORM". Each function receives an open
``Session`` from the caller (do not create or close sessions here) and commits its
own writes.

Rules of the house: read with ``select(...)`` executed through the session
(``session.scalars(...)``, ``session.execute(...)``, ``session.get(...)``).
No legacy ``session.query(...)`` and no SQL strings.
"""

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Document


def create_document(session: Session, title: str, body: str, owner_id: int) -> Document:
    """Store a new document and return it, committed, with its ``id`` set."""
    # TODO
    raise NotImplementedError("create_document")


def list_documents(session: Session, owner_id: int) -> list[Document]:
    """Return the documents of ``owner_id`` only, newest first (by ``created_at``)."""
    # TODO
    raise NotImplementedError("list_documents")


def get_document(session: Session, doc_id: int) -> Document | None:
    """Return the document with this id, or ``None`` if there is none."""
    # TODO
    raise NotImplementedError("get_document")


def rename_document(session: Session, doc_id: int, title: str) -> Document | None:
    """Change the title of a document, commit, and return it; ``None`` if it does not exist.

    Only the title may change: the UPDATE must touch the ``title`` column alone.
    """
    # TODO
    raise NotImplementedError("rename_document")


def delete_document(session: Session, doc_id: int) -> bool:
    """Remove a document and commit. ``True`` if it was removed, ``False`` if it did not exist."""
    # TODO
    raise NotImplementedError("delete_document")
