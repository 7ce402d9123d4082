"""DocChat's API - still the in-memory version. Make it persist.

Lesson section 8, "Build: persist DocChat". Today the documents live in a Python
list: every restart empties it, and two worker processes would each have their own.

TODO:
1. Replace the DOCS list with the database: each route takes
   ``db: Session = Depends(get_db)`` (deps.py) and works with ``models.Document``.
   - ``POST /documents?title=...&body=...`` stores a document owned by user 1 and
     returns it as JSON, including its ``id``;
   - ``GET /documents`` returns every document, newest first (by ``created_at``).
2. Do NOT create tables here (no ``Base.metadata.create_all``): Alembic owns the
   schema. ``alembic/env.py`` is already wired (``Base.metadata``, ``DATABASE_URL``) and
   ``alembic/versions/`` holds the reviewed initial revision: build the tables with
   ``course exec 08-docchat -- alembic upgrade head``. (Changing a model? Upgrade to head
   first, then autogenerate a new revision and review it.)
"""

from fastapi import FastAPI

app = FastAPI(title="DocChat")

DOCS: list[dict] = []  # module-level state: gone on every restart


@app.post("/documents")
def create_document(title: str, body: str):
    doc = {"id": len(DOCS) + 1, "title": title, "body": body, "owner_id": 1}
    DOCS.append(doc)
    return doc


@app.get("/documents")
def list_documents():
    return list(reversed(DOCS))
