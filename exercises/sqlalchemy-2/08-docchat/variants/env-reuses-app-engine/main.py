"""DocChat's API, persisted in Postgres, with a response model."""

from datetime import datetime

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from deps import DbSession
from models import Document

app = FastAPI(title="DocChat")


class DocumentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    body: str
    created_at: datetime


@app.post("/documents", response_model=DocumentOut, status_code=201)
def create_document(title: str, body: str, db: DbSession):
    doc = Document(title=title, body=body, owner_id=1)
    db.add(doc)
    db.commit()
    return doc  # the response model reads the expired attributes while the session is open


@app.get("/documents", response_model=list[DocumentOut])
def list_documents(db: DbSession):
    return db.scalars(select(Document).order_by(Document.created_at.desc())).all()
