"""DocChat's API: the documents still live in a list."""

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
