"""Checks for 04-crud: the five document operations, judged on Postgres and on the SQL they send.

Every check seeds the same data through the grader's own connection (not captured), hands the
learner's function a fresh ``Session`` on the built-in ``captured_engine`` (so its SQL *is* captured), and
then reads Postgres back through a separate connection: what another client sees is what was
committed.
"""

import ast
import re
import traceback
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import MultipleResultsFound, NoResultFound
from sqlalchemy.orm import Session

from checker.authoring import called_name, check, fail, fix_or_hint, fixture
from checker.authoring.shared import first_order_by, ordering_mistake

HERE = Path(__file__).parent

# Two owners with documents, one without. created_at is explicit and distinct, and for user 1 the
# order of ids, of insertion (the order a query without ORDER BY usually returns), of dates and of
# titles all differ, so no other sort (or none) can pass for newest first, and the message can say
# which one the code used.
USERS = [(1, "ada@example.com", "Ada"), (2, "grace@example.com", "Grace"), (3, "linus@example.com", "Linus")]
DOCUMENTS = [
    # id, title, body, owner_id, created_at
    (12, "Old memo", "from January", 1, datetime(2024, 1, 15, 9, 0)),
    (21, "Grace's draft", "first draft", 2, datetime(2024, 5, 1, 9, 0)),
    (13, "Summer plan", "what to do in July", 1, datetime(2024, 6, 30, 9, 0)),
    (22, "Grace's notes", "reading list", 2, datetime(2024, 4, 1, 9, 0)),
    (11, "Meeting notes", "agenda and decisions", 1, datetime(2024, 3, 1, 9, 0)),
    (14, "February report", "numbers", 1, datetime(2024, 2, 10, 9, 0)),
]
SEQUENCE_START = 5270
"""New documents get ids from here: never the row count, never next to the seeded ids."""
NEWEST_FIRST = {
    owner: [d[0] for d in sorted((d for d in DOCUMENTS if d[3] == owner), key=lambda d: d[4], reverse=True)]
    for owner in (1, 2, 3)
}
TITLES = {d[0]: d[1] for d in DOCUMENTS}
MISSING_ID = 999


# --------------------------------------------------------------------------- fixtures


@fixture
def seeded(learner, db):
    """The provided models' tables, filled with USERS and DOCUMENTS (through the grader's engine)."""
    learner.models.Base.metadata.create_all(db)
    with db.begin() as conn:
        for user_id, email, name in USERS:
            conn.execute(
                text("INSERT INTO users (id, email, name) VALUES (:id, :email, :name)"),
                {"id": user_id, "email": email, "name": name},
            )
        for doc_id, title, body, owner_id, created_at in DOCUMENTS:
            conn.execute(
                text(
                    "INSERT INTO documents (id, title, body, owner_id, created_at) "
                    "VALUES (:id, :title, :body, :owner_id, :created_at)"
                ),
                {"id": doc_id, "title": title, "body": body, "owner_id": owner_id, "created_at": created_at},
            )
        # explicit ids do not advance the sequences: move them past the seed (far past, for documents)
        conn.execute(text("SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT max(id) FROM users))"))
        conn.execute(text(f"SELECT setval(pg_get_serial_sequence('documents', 'id'), {SEQUENCE_START})"))


@fixture
def session(captured_engine, seeded):
    """A fresh Session, as a caller of crud.py would pass it (on the built-in captured engine)."""
    session = Session(captured_engine)
    yield session
    session.close()


# --------------------------------------------------------------------------- helpers


def where_def(learner, name: str, filename: str = "crud.py") -> str:
    """``crud.py:12`` — where function ``name`` is defined."""
    try:
        tree = learner.tree(filename)
    except SyntaxError:
        return filename
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return f"{filename}:{node.lineno}"
    return filename


def function(learner, name: str, signature: str):
    """The learner's ``crud.<name>``; calling it while it is still the starter's stub fails with what
    the function is for, instead of a bare NotImplementedError traceback."""
    value = learner.require("crud", name, signature)
    if not callable(value):
        fail(f"crud.{name} must be a function: {signature}")

    def stub_aware(*args):
        try:
            return value(*args)
        except NotImplementedError as error:
            fail(
                f"crud.{name}() is not written yet: it still raises NotImplementedError "
                f"({learner_frame(error, learner) or where_def(learner, name)}). It must be {signature}, working "
                "through the Session it is given (2.0 style: select() for reads; the session's unit of work, "
                "then commit(), for writes). "
                + fix_or_hint(learner, HERE, "Replace the `raise NotImplementedError` with its body")
            )

    return stub_aware


def learner_frame(error: BaseException, learner) -> str | None:
    """``crud.py:31`` — the innermost line of the learner's code in the traceback."""
    root = str(learner.dir.resolve())
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename.startswith(root)]
    if not frames:
        return None
    frame = frames[-1]
    return f"{Path(frame.filename).relative_to(root)}:{frame.lineno}"


def rows(db) -> dict[int, tuple]:
    """Every document as another connection sees it: id -> (title, body, owner_id, created_at)."""
    with db.connect() as conn:
        result = conn.execute(text("SELECT id, title, body, owner_id, created_at FROM documents"))
        return {row.id: (row.title, row.body, row.owner_id, row.created_at) for row in result}


def seed_row(doc_id: int) -> tuple:
    for d in DOCUMENTS:
        if d[0] == doc_id:
            return d[1:]
    raise KeyError(doc_id)


def expect_document(learner, value, call: str, doc_id: int | None = None):
    """``value`` must be a models.Document (with ``doc_id`` when given)."""
    document_class = learner.models.Document
    if not isinstance(value, document_class):
        got = "None" if value is None else f"a {type(value).__name__} ({value!r:.80})"
        hint = ""
        if type(value).__name__ == "Row":
            hint = (
                ": session.execute(select(Document)) yields Row tuples; session.scalars(...) (or "
                "`.scalar_one_or_none()` on the result) yields the Document objects"
            )
        fail(f"{call} returned {got}; it must return the Document object itself{hint}")
    if doc_id is not None and value.id != doc_id:
        fail(f"{call} returned the document with id {value.id}, not the one with id {doc_id}")
    return value


def list_of_documents(learner, value, call: str) -> list[int]:
    """The ids of a list_documents() result; it must be a list (or other sequence) of Documents."""
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        fail(
            f"{call} returned a {type(value).__name__}, not a list. A Result can be read only once and has "
            "no len(): finish with `.all()` — `session.scalars(stmt).all()` — or wrap it in list(...)"
        )
    document_class = learner.models.Document
    for item in value:
        if not isinstance(item, document_class):
            fail(
                f"{call} returned a list holding {type(item).__name__} objects ({item!r:.80}), not Documents. "
                "`session.execute(select(Document))` yields Row tuples; `session.scalars(...)` yields the "
                "Document objects themselves"
            )
    return [item.id for item in value]


def describe_ids(ids: list[int]) -> str:
    return "[" + ", ".join(str(i) for i in ids) + "]" if ids else "[] (nothing)"


def dates(ids: list[int]) -> str:
    when = {d[0]: d[4] for d in DOCUMENTS}
    return ", ".join(f"{i} ({when[i]:%Y-%m-%d})" for i in ids if i in when)


# --------------------------------------------------------------------------- checks


@check("create-document", "create_document() commits a new row and returns it with its id")
def create_document(learner, session, db):
    create = function(learner, "create_document", "create_document(session, title, body, owner_id) -> Document")
    where = where_def(learner, "create_document")
    before = rows(db)
    doc = create(session, "Fresh notes", "written by the grader", 2)
    call = "create_document(session, 'Fresh notes', 'written by the grader', 2)"
    expect_document(learner, doc, call)
    new_id = doc.id
    if isinstance(new_id, bool) or not isinstance(new_id, int):
        fail(
            f"{call} returned a Document whose id is {new_id!r}: the id is only set once the INSERT has "
            f"been sent. Commit before returning (session.add(doc), session.commit()) ({where})"
        )
    after = rows(db)
    if new_id not in after:
        fail(
            f"{call} returned a Document with id {new_id}, but another connection sees no such row in "
            "documents: the INSERT was never committed. session.flush() sends it inside a transaction "
            "that is rolled back when the session ends; call session.commit() after session.add(doc) "
            f"({where})"
        )
    title, body, owner_id, created_at = after[new_id]
    if (title, body, owner_id) != ("Fresh notes", "written by the grader", 2):
        fail(
            f"{call} stored title={title!r}, body={body!r}, owner_id={owner_id!r}; expected the values "
            f"it was given ({where})"
        )
    if created_at is None:
        fail(f"the new document has no created_at; leave it to the server default ({where})")
    added = set(after) - set(before) - {new_id}
    if added:
        fail(f"{call} inserted {len(added) + 1} rows (ids {sorted(added | {new_id})}); one call, one document")


@check("list-documents-newest-first", "list_documents() returns the owner's documents, newest first")
def list_documents_newest_first(learner, session, sql):
    list_documents = function(learner, "list_documents", "list_documents(session, owner_id) -> list[Document]")
    where = where_def(learner, "list_documents")
    expected = NEWEST_FIRST[1]
    with sql.capture() as log:
        value = list_documents(session, 1)
    got = list_of_documents(learner, value, "list_documents(session, 1)")
    own = [i for i in got if i in expected]  # other owners' rows are list-documents-owner-only's business
    missing = [i for i in expected if i not in own]
    if missing:
        fail(
            f"list_documents(session, 1) returned {describe_ids(got)}; user 1's documents are "
            f"{describe_ids(sorted(expected))}, and {describe_ids(missing)} are missing ({where})"
        )
    if len(own) != len(set(own)):
        fail(f"list_documents(session, 1) returned some documents twice: {describe_ids(got)} ({where})")
    if own == expected:
        return
    ordering = first_order_by(log, "documents")
    queried = [statement for statement in log.selects if statement.shape.touches("documents")]
    sql.flag(queried[:1], f"ORDER BY {', '.join(ordering)}" if ordering else "no ORDER BY")
    fix = "sort by creation time, newest first: .order_by(Document.created_at.desc())"
    fail(
        f"list_documents(session, 1) returned {dates(own)}; newest first is {dates(expected)}. "
        f"{ordering_mistake(ordering, 'created_at', True, fix)} ({where})"
    )


@check("list-documents-owner-only", "list_documents() returns only that owner's documents; [] for none")
def list_documents_owner_only(learner, session):
    list_documents = function(learner, "list_documents", "list_documents(session, owner_id) -> list[Document]")
    where = where_def(learner, "list_documents")
    owners = {d[0]: d[3] for d in DOCUMENTS}
    for owner in (1, 2, 3):
        call = f"list_documents(session, {owner})"
        got = list_of_documents(learner, list_documents(session, owner), call)
        expected = set(NEWEST_FIRST[owner])
        foreign = [i for i in got if i not in expected]
        if foreign:
            whose = ", ".join(f"{i} (owner {owners.get(i, '?')})" for i in foreign)
            if not expected:
                fail(
                    f"{call} returned {describe_ids(got)}, but user {owner} owns no documents: it must "
                    f"return []. Those are other users' documents ({whose}): filter with "
                    f".where(Document.owner_id == owner_id) ({where})"
                )
            fail(
                f"{call} also returned other users' documents: {whose}. Filter the query by owner: "
                f".where(Document.owner_id == owner_id) ({where})"
            )
        if set(got) != expected:
            fail(
                f"{call} returned {describe_ids(got)}; user {owner} owns {describe_ids(sorted(expected))} "
                f"({where})"
            )


@check("get-document", "get_document() returns the document with that id")
def get_document(learner, session):
    get = function(learner, "get_document", "get_document(session, doc_id) -> Document | None")
    where = where_def(learner, "get_document")
    for doc_id in (13, 21):
        doc = expect_document(learner, get(session, doc_id), f"get_document(session, {doc_id})", doc_id)
        if doc.title != TITLES[doc_id]:
            fail(
                f"get_document(session, {doc_id}) returned a document titled {doc.title!r}; "
                f"the row in Postgres is titled {TITLES[doc_id]!r} ({where})"
            )


@check("get-missing-document", "get_document() returns None for an id that does not exist")
def get_missing_document(learner, session):
    get = function(learner, "get_document", "get_document(session, doc_id) -> Document | None")
    where = where_def(learner, "get_document")
    try:
        result = get(session, MISSING_ID)
    except NoResultFound as error:
        fail(
            f"get_document(session, {MISSING_ID}) raised NoResultFound ({learner_frame(error, learner) or where}). "
            "`.one()` and `.scalar_one()` demand exactly one row; a missing document is a normal answer "
            "here, so return None: use `.first()`, `.scalar_one_or_none()` or "
            "`session.get(Document, doc_id)`"
        )
    except MultipleResultsFound as error:
        fail(f"get_document(session, {MISSING_ID}) raised {error} ({learner_frame(error, learner) or where})")
    if result is not None:
        fail(
            f"get_document(session, {MISSING_ID}) returned {result!r:.80}, but there is no document with id "
            f"{MISSING_ID}: it must return None ({where})"
        )


@check("rename-document", "rename_document() commits exactly one UPDATE that sets only title")
def rename_document(learner, session, db, sql):
    rename = function(learner, "rename_document", "rename_document(session, doc_id, title) -> Document | None")
    where = where_def(learner, "rename_document")
    call = "rename_document(session, 12, 'Renamed memo')"
    with sql.capture() as log:
        result = rename(session, 12, "Renamed memo")
    doc = expect_document(learner, result, call, 12)
    if doc.title != "Renamed memo":
        fail(f"{call} returned a document titled {doc.title!r}; expected the new title ({where})")

    updates = log.of_kind("UPDATE")
    if not updates:
        fail(
            f"{call} sent no UPDATE to Postgres (the SQL it sent is below). Setting doc.title changes "
            "the object in memory only; session.commit() is what flushes the change as an UPDATE and "
            f"makes it permanent ({where})"
        )
    if len(updates) > 1:
        sql.flag(updates, "one rename, one UPDATE")
        fail(
            f"{call} sent {len(updates)} UPDATE statements (marked below); a rename is one "
            f"UPDATE documents SET title = ... WHERE id = ... ({where})"
        )
    update = updates[0]
    columns = update.shape.set_columns
    if "documents" not in update.shape.tables or columns != {"title"}:
        sql.flag(updates, "must set title only")
        others = sorted(columns - {"title"})
        detail = f"it also sets {', '.join(others)}" if others and "title" in columns else (
            f"it sets {', '.join(sorted(columns)) or 'nothing'}"
        )
        fail(
            f"the UPDATE sent by {call} must set the title column and nothing else, but {detail} "
            f"({update.location or where}). Writing the whole row back can overwrite a concurrent change "
            "to another column; set only the attribute that changed — `doc.title = title` — and let the "
            "session's change tracking build the UPDATE (or update(Document)...values(title=title))"
        )

    after = rows(db)
    if after.get(12, (None,))[0] != "Renamed memo":
        fail(
            f"{call} sent its UPDATE, but another connection still sees the title "
            f"{after.get(12, (None,))[0]!r}: the change was never committed. Call session.commit() after "
            f"setting the title ({where})"
        )
    expected = {i: seed_row(i) for i in TITLES}
    expected[12] = ("Renamed memo", *expected[12][1:])
    changed = sorted(i for i in expected if after.get(i) != expected[i])
    if changed:
        fail(f"after {call}, documents {changed} differ from what they should be; only the title of 12 may change")


@check("rename-missing-document", "rename_document() returns None for a missing id and changes nothing")
def rename_missing_document(learner, session, db):
    rename = function(learner, "rename_document", "rename_document(session, doc_id, title) -> Document | None")
    where = where_def(learner, "rename_document")
    call = f"rename_document(session, {MISSING_ID}, 'Ghost')"
    try:
        result = rename(session, MISSING_ID, "Ghost")
    except NoResultFound as error:
        fail(
            f"{call} raised NoResultFound ({learner_frame(error, learner) or where}); a missing document is a "
            "normal case: look it up with .first() / session.get(Document, doc_id) and return None when "
            "it is not there"
        )
    except AttributeError as error:
        if "NoneType" not in str(error):
            raise
        fail(
            f"{call} raised AttributeError: {error} ({learner_frame(error, learner) or where}). The lookup "
            "found no document and returned None; check for it first: `if doc is None: return None`"
        )
    if result is not None:
        fail(f"{call} returned {result!r:.80}; there is no document {MISSING_ID}, so it must return None ({where})")
    after = rows(db)
    expected = {i: seed_row(i) for i in TITLES}
    if after != expected:
        added = sorted(set(after) - set(expected))
        changed = sorted(i for i in expected if after.get(i) != expected[i])
        fail(
            f"{call} changed the table (new rows: {added or 'none'}; changed rows: {changed or 'none'}); "
            f"renaming a document that does not exist must leave everything as it was ({where})"
        )


@check("delete-document", "delete_document() removes the row, commits, and returns True")
def delete_document(learner, session, db):
    delete = function(learner, "delete_document", "delete_document(session, doc_id) -> bool")
    where = where_def(learner, "delete_document")
    call = "delete_document(session, 14)"
    result = delete(session, 14)
    if result is not True:
        fail(f"{call} returned {result!r}; after deleting an existing document it must return True ({where})")
    after = rows(db)
    if 14 in after:
        fail(
            f"{call} returned True, but another connection still sees document 14: the DELETE was never "
            "committed, so it is rolled back when the session ends. Call session.commit() after "
            f"session.delete(doc) ({where})"
        )
    gone = sorted(i for i in TITLES if i != 14 and i not in after)
    if gone:
        fail(f"{call} also removed documents {gone}; delete only the one with that id ({where})")


@check("delete-missing-document", "delete_document() returns False for a missing id and deletes nothing")
def delete_missing_document(learner, session, db):
    delete = function(learner, "delete_document", "delete_document(session, doc_id) -> bool")
    where = where_def(learner, "delete_document")
    call = f"delete_document(session, {MISSING_ID})"
    try:
        result = delete(session, MISSING_ID)
    except NoResultFound as error:
        fail(
            f"{call} raised NoResultFound ({learner_frame(error, learner) or where}); a missing document is a "
            "normal case: return False when the lookup finds nothing"
        )
    except Exception as error:
        if "NoneType" in str(error) or "not persisted" in str(error):
            fail(
                f"{call} raised {type(error).__name__}: {error} ({learner_frame(error, learner) or where}). "
                "The lookup found no document (None); check for it first: `if doc is None: return False`"
            )
        raise
    if result is not False:
        hint = ""
        if result is True:
            hint = (
                ". A DELETE that matches no row is not an error, so reaching the end of the function proves "
                "nothing: look the document up first (return False when it is None), or check the "
                "`rowcount` of the DELETE's result"
            )
        fail(f"{call} returned {result!r}, but no document has id {MISSING_ID}: it must return False{hint} ({where})")
    if set(rows(db)) != set(TITLES):
        fail(f"{call} removed documents that exist; it must leave the table untouched ({where})")


# --------------------------------------------------------------------------- style

_SQL_STATEMENT = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b", re.IGNORECASE)
_RUNS_SQL = {"text", "execute", "exec_driver_sql", "scalars", "scalar", "from_statement"}


def _string_value(node, constants: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left = _string_value(node.left, constants)
        return left if left is not None else None
    return None


def raw_sql_calls(tree: ast.Module) -> list[tuple[int, str, str]]:
    """(line, called, sql) for SQL statements written as strings and handed to text()/execute()/..."""
    constants: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            value = _string_value(node.value, {})
            if value is not None:
                constants[node.targets[0].id] = value
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and called_name(node) in _RUNS_SQL:
            for arg in list(node.args) + [k.value for k in node.keywords]:
                value = _string_value(arg, constants)
                if value is not None and _SQL_STATEMENT.match(value):
                    found.append((node.lineno, called_name(node), " ".join(value.split())))
    return sorted(found)


@check("style-select", "2.0 style: select() run through the session; no session.query(), no SQL strings")
def style_select(learner):
    try:
        tree = learner.tree("crud.py")
    except SyntaxError as error:
        fail(f"crud.py does not parse: {error}")
    queries = sorted(
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "query"
    )
    if queries:
        lines = ", ".join(f"crud.py:{n}" for n in queries)
        fail(
            f"{lines}: session.query(...) is the legacy 1.x Query API. In 2.0, build a statement and run it "
            "through the session: `session.scalars(select(Document).where(Document.owner_id == owner_id))"
            ".all()`, `.first()` for one row, `session.get(Document, doc_id)` by primary key"
        )
    raw = raw_sql_calls(tree)
    if raw:
        line, called, statement = raw[0]
        shown = statement if len(statement) <= 70 else statement[:67] + "..."
        fail(
            f"crud.py:{line} hands SQL written as a string to {called}(): {shown!r}. Build the query with "
            "select() instead — `select(Document).where(...).order_by(...)` — so SQLAlchemy writes the "
            "SQL, binds the parameters and returns Document objects"
        )
