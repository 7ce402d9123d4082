"""DocChat's API, persisted in Postgres, answering with plain dicts."""

from fastapi import Depends, FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session

from deps import get_db
from models import Document

app = FastAPI(title="DocChat")


def to_json(doc: Document) -> dict:
    return {"id": doc.id, "title": doc.title, "body": doc.body, "created_at": doc.created_at.isoformat()}


@app.post("/documents")
def create_document(title: str, body: str, db: Session = Depends(get_db)) -> dict:
    doc = Document(title=title, body=body, owner_id=1)
    db.add(doc)
    db.flush()  # id and created_at come back from the INSERT ... RETURNING
    db.commit()
    return to_json(doc)  # expire_on_commit=False: the values are still loaded


@app.get("/documents")
def list_documents(db: Session = Depends(get_db)) -> list[dict]:
    rows = db.execute(select(Document).order_by(Document.created_at.desc())).scalars().all()
    return [to_json(doc) for doc in rows]
