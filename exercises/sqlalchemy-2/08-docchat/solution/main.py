"""DocChat's API, persisted in Postgres. The schema belongs to Alembic: no create_all here."""

from fastapi import Depends, FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session

from deps import get_db
from models import Document

app = FastAPI(title="DocChat")


@app.post("/documents")
def create_document(title: str, body: str, db: Session = Depends(get_db)):
    doc = Document(title=title, body=body, owner_id=1)  # DocChat has one user for now
    db.add(doc)
    db.commit()
    db.refresh(doc)  # commit() expired its attributes: load them again for the response
    return doc


@app.get("/documents")
def list_documents(db: Session = Depends(get_db)):
    return db.scalars(select(Document).order_by(Document.created_at.desc(), Document.id.desc())).all()
