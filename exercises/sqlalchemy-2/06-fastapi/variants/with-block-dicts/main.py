"""DocChat's HTTP API on Postgres, returning plain dicts."""

from fastapi import Depends, FastAPI
from sqlalchemy import desc, select
from sqlalchemy.orm import Session

from deps import get_db
from models import Document

app = FastAPI()


def as_dict(doc: Document) -> dict:
    return {
        "id": doc.id,
        "title": doc.title,
        "body": doc.body,
        "owner_id": doc.owner_id,
        "created_at": doc.created_at.isoformat(),
    }


@app.post("/documents")
def create_document(title: str, body: str, db: Session = Depends(get_db)) -> dict:
    doc = Document(title=title, body=body, owner_id=1)
    db.add(doc)
    db.commit()
    return as_dict(doc)  # reading doc.id after the commit reloads the row


@app.get("/documents")
def list_documents(db: Session = Depends(get_db)) -> list[dict]:
    documents = db.execute(select(Document).order_by(desc(Document.created_at))).scalars()
    return [as_dict(doc) for doc in documents]
