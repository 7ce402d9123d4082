"""DocChat's HTTP API on Postgres."""

from datetime import datetime

from fastapi import Depends, FastAPI
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from deps import get_db
from models import Document

app = FastAPI()


class DocumentOut(BaseModel):
    """What the API returns, read from the ORM object's attributes."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    body: str
    owner_id: int
    created_at: datetime


@app.post("/documents", response_model=DocumentOut)
def create_document(title: str, body: str, db: Session = Depends(get_db)):
    doc = Document(title=title, body=body, owner_id=1)  # DocChat has one user for now
    db.add(doc)
    db.flush()  # sends the INSERT, so the id is known
    db.refresh(doc)  # commit() expired its attributes: load them again before returning it
    return doc


@app.get("/documents", response_model=list[DocumentOut])
def list_documents(db: Session = Depends(get_db)):
    return db.scalars(select(Document).order_by(Document.created_at.desc())).all()
