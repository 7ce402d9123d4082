"""DocChat's HTTP API on Postgres: the document routes live on an APIRouter."""

from datetime import datetime

from fastapi import APIRouter, Depends, FastAPI, Query
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from deps import get_db
from models import Document


class DocumentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    body: str
    owner_id: int
    created_at: datetime


router = APIRouter(prefix="/documents", tags=["documents"])


@router.post("", response_model=DocumentOut)
def create_document(
    title: str = Query(max_length=200),
    body: str = Query(),
    session: Session = Depends(get_db),
):
    doc = Document(title=title, body=body, owner_id=1)
    session.add(doc)
    session.flush()
    session.commit()
    session.refresh(doc)
    return doc


@router.get("", response_model=list[DocumentOut])
def list_documents(session: Session = Depends(get_db)):
    stmt = select(Document).order_by(Document.created_at.desc(), Document.id.desc())
    return session.scalars(stmt).all()


app = FastAPI(title="DocChat")
app.include_router(router)
