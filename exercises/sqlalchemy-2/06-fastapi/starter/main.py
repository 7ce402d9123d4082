"""DocChat's HTTP API on Postgres.

Lesson section 6, "Wiring into FastAPI". Two routes, each receiving its session
from ``get_db`` (``db: Session = Depends(get_db)``):

- ``POST /documents?title=...&body=...`` - store a document owned by user 1 (the
  grader creates that user) and return it as JSON, including its ``id``.
- ``GET /documents`` - every document, newest first (by ``created_at``).

Plain function parameters such as ``title: str`` are read from the query string.
After ``db.commit()`` the object's attributes are expired: ``db.refresh(doc)``
reloads them (``id``, ``created_at``...) before you return it.
"""

from fastapi import Depends, FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session

from deps import get_db
from models import Document

app = FastAPI()


# TODO: POST /documents?title=...&body=...  -> the new document as JSON, with its id


# TODO: GET /documents  -> a list of documents, newest first
