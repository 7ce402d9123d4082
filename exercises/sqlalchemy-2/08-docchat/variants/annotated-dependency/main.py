"""DocChat's API, persisted in Postgres, the session declared once as an Annotated dependency."""

from typing import Annotated

from fastapi import Depends, FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session

from deps import get_db
from models import Document

app = FastAPI(title="DocChat")

DbSession = Annotated[Session, Depends(get_db)]


@app.post("/documents")
def create_document(title: str, body: str, db: DbSession):
    doc = Document(title=title, body=body, owner_id=1)
    db.add(doc)
    db.commit()
    db.refresh(doc)
    return doc


@app.get("/documents")
def list_documents(db: DbSession):
    return db.scalars(select(Document).order_by(Document.created_at.desc(), Document.id.desc())).all()
