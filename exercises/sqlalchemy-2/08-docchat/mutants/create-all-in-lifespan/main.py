"""DocChat's API, persisted in Postgres."""

from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session

import db as database
from deps import get_db
from models import Base, Document


@asynccontextmanager
async def lifespan(app: FastAPI):
    Base.metadata.create_all(bind=database.engine)  # create the tables at startup
    yield


app = FastAPI(title="DocChat", lifespan=lifespan)


@app.post("/documents")
def create_document(title: str, body: str, db: Session = Depends(get_db)):
    doc = Document(title=title, body=body, owner_id=1)
    db.add(doc)
    db.commit()
    db.refresh(doc)
    return doc


@app.get("/documents")
def list_documents(db: Session = Depends(get_db)):
    return db.scalars(select(Document).order_by(Document.created_at.desc())).all()
