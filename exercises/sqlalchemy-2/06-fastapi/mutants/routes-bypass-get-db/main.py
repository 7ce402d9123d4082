"""DocChat's HTTP API on Postgres."""

from fastapi import FastAPI
from sqlalchemy import select

from db import SessionLocal
from models import Document

app = FastAPI()


@app.post("/documents")
def create_document(title: str, body: str):
    with SessionLocal() as db:
        doc = Document(title=title, body=body, owner_id=1)
        db.add(doc)
        db.commit()
        db.refresh(doc)
        return doc


@app.get("/documents")
def list_documents():
    with SessionLocal() as db:
        return db.scalars(select(Document).order_by(Document.created_at.desc())).all()
