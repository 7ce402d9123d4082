"""DocChat's HTTP API on Postgres: Annotated dependencies, return annotations as response models."""

from datetime import datetime

from fastapi import FastAPI, status
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from deps import DbSession
from models import Document

app = FastAPI()


class DocumentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    body: str
    created_at: datetime


@app.post("/documents", status_code=status.HTTP_201_CREATED)
def create_document(title: str, body: str, db: DbSession) -> DocumentOut:
    doc = Document(title=title, body=body, owner_id=1)
    db.add(doc)
    db.commit()
    # no refresh: the response model reads the expired attributes, which reloads them,
    # while the session is still open
    return doc


@app.get("/documents")
def list_documents(db: DbSession) -> list[DocumentOut]:
    stmt = select(Document).order_by(Document.created_at.desc())
    return db.scalars(stmt).all()
