"""DocChat's HTTP API on Postgres."""

from fastapi import Depends, FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session

from deps import get_db
from models import Document

app = FastAPI()


@app.post("/documents")
def create_document(title: str, body: str, db: Session = Depends(get_db)):
    doc = Document(title=title, body=body, owner_id=1)
    db.add(doc)
    db.commit()
    return doc


@app.get("/documents")
def list_documents(db: Session = Depends(get_db)):
    return db.scalars(select(Document).order_by(Document.created_at.desc())).all()
