"""Checks for 04-crud: the five document operations, judged on Postgres and on the SQL they send.

Judged apart from the learner's code (docs/authoring.md, "Acts and checks"): the acts below run
beside it, call one crud function with a fresh ``Session`` and return plain data (what the
function returned, described); the checks run in the judge. The judge seeds users and documents
through its own connection with ids, titles, bodies and creation times drawn for this run (the
order of ids, of insertion, of dates and of titles all differ for the first user, as before, so no
other sort, or none, can pass for newest first), reads the rows back through its own connection
(what another client sees is what was committed) and reads the SQL from what Postgres received.
"""

import ast
import random
import re
import string
import traceback
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import MultipleResultsFound, NoResultFound
from sqlalchemy.orm import Session

from checker.authoring import act, called_name, check, fail, fix_or_hint, fixture
from checker.authoring.shared import first_order_by, ordering_mistake

HERE = Path(__file__).parent
RANDOM = random.SystemRandom()

# The shape of the seed: two owners with documents, one without. Ids, titles, bodies and dates are
# drawn per run keeping the relative order of these (ids, titles and dates each by rank), so the
# order of ids, of insertion, of dates and of titles still all differ for user 1.
SHAPE = [
    # id, title, owner (1, 2; 3 owns nothing), created_at
    (12, "Old memo", 1, datetime(2024, 1, 15, 9, 0)),
    (21, "Grace's draft", 2, datetime(2024, 5, 1, 9, 0)),
    (13, "Summer plan", 1, datetime(2024, 6, 30, 9, 0)),
    (22, "Grace's notes", 2, datetime(2024, 4, 1, 9, 0)),
    (11, "Meeting notes", 1, datetime(2024, 3, 1, 9, 0)),
    (14, "February report", 1, datetime(2024, 2, 10, 9, 0)),
]
SIGNATURES = {
    "create_document": "create_document(session, title, body, owner_id) -> Document",
    "list_documents": "list_documents(session, owner_id) -> list[Document]",
    "get_document": "get_document(session, doc_id) -> Document | None",
    "rename_document": "rename_document(session, doc_id, title) -> Document | None",
    "delete_document": "delete_document(session, doc_id) -> bool",
}


def _ranked(originals: list, drawn: list) -> dict:
    """Each original value -> the drawn value of the same rank (both sorted)."""
    return dict(zip(sorted(originals), sorted(drawn), strict=True))


def _word(length: int) -> str:
    return "".join(RANDOM.choice(string.ascii_lowercase) for _ in range(length))


def draw() -> dict:
    """This run's seed: users, documents (id, title, body, owner, created_at), the start of the id
    sequence for new documents (never the row count, never next to the seeded ids), a missing id."""
    users = RANDOM.sample(range(1, 99_999), 3)
    ids = _ranked([d[0] for d in SHAPE], RANDOM.sample(range(10, 99_999), len(SHAPE)))
    letters = RANDOM.sample(string.ascii_uppercase, len(SHAPE))  # distinct first letters: one order in any collation
    titles = _ranked([d[1] for d in SHAPE], [f"{c}{_word(5)} {_word(6)}" for c in letters])
    start = datetime(2023, 1, 1, 9, 0)
    days = _ranked([d[3] for d in SHAPE], [start + timedelta(days=n, minutes=RANDOM.randrange(600)) for n in RANDOM.sample(range(900), len(SHAPE))])
    documents = [
        {"id": ids[i], "title": titles[t], "body": f"{_word(4)} {_word(7)}", "owner": users[o - 1], "created_at": days[c]}
        for i, t, o, c in SHAPE
    ]
    sequence = RANDOM.randrange(100_000, 900_000)
    missing = RANDOM.choice([n for n in RANDOM.sample(range(100, 99_999), 10) if n not in ids.values()])
    return {"users": users, "documents": documents, "sequence": sequence, "missing": missing, "by_shape": ids}


# --------------------------------------------------------------------------- acts: in the learner's process


def learner_frame(error: BaseException, learner) -> str | None:
    """``crud.py:31`` — the innermost line of the learner's code in the traceback."""
    root = str(learner.dir.resolve())
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename.startswith(root)]
    if not frames:
        return None
    frame = frames[-1]
    return f"{Path(frame.filename).relative_to(root)}:{frame.lineno}"


def _described(value, document_class, many: bool) -> dict:
    """What a crud function returned, as plain data."""
    if value is None:
        return {"kind": "none"}
    if isinstance(value, bool):
        return {"kind": "bool", "value": value}
    if isinstance(value, document_class):
        raw = value.id
        return {
            "kind": "document",
            "id": raw if raw is None or (isinstance(raw, int) and not isinstance(raw, bool)) else repr(raw)[:80],
            "title": value.title if isinstance(value.title, str) else repr(value.title)[:80],
        }
    if many and isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return {"kind": "list", "items": [_described(item, document_class, False) for item in value][:1000]}
    return {"kind": "other", "type": type(value).__name__, "shown": repr(value)[:80]}


@act
def create_tables(ctx) -> None:
    ctx.learner.models.Base.metadata.create_all(ctx.engine)


@act
def call(ctx, name: str, *args) -> dict:
    """crud.<name>(session, *args) with a fresh Session on the run's database: what it returned,
    described (or which expected exception it raised, and where)."""
    signature = SIGNATURES[name]
    function = ctx.learner.require("crud", name, signature)
    if not callable(function):
        fail(f"crud.{name} must be a function: {signature}")
    document_class = ctx.learner.models.Document
    with Session(ctx.engine) as session:
        try:
            value = function(session, *args)
        except NotImplementedError as error:
            fail(
                f"crud.{name}() is not written yet: it still raises NotImplementedError "
                f"({learner_frame(error, ctx.learner) or ctx.learner.where_defined(name, 'crud.py')}). It must be "
                f"{signature}, working through the Session it is given (2.0 style: select() for reads; the "
                "session's unit of work, then commit(), for writes). "
                + fix_or_hint(ctx.learner, HERE, "Replace the `raise NotImplementedError` with its body")
            )
        except (NoResultFound, MultipleResultsFound, AttributeError) as error:
            if isinstance(error, AttributeError) and "NoneType" not in str(error):
                raise
            return {"raised": type(error).__name__, "text": str(error)[:300], "at": learner_frame(error, ctx.learner)}
        except Exception as error:
            if "NoneType" in str(error) or "not persisted" in str(error):
                return {"raised": type(error).__name__, "text": str(error)[:300], "at": learner_frame(error, ctx.learner)}
            raise
        return _described(value, document_class, name == "list_documents")


# --------------------------------------------------------------------------- fixtures: in the judge


@fixture
def seeded(learner, db):
    """The provided models' tables, filled with this run's users and documents (the judge's own connection)."""
    data = draw()
    learner.run(create_tables)
    with db.begin() as conn:
        for n, user_id in enumerate(data["users"], 1):
            conn.execute(
                text("INSERT INTO users (id, email, name) VALUES (:id, :email, :name)"),
                {"id": user_id, "email": f"user{n}.{_word(6)}@example.com", "name": _word(5).title()},
            )
        for d in data["documents"]:
            conn.execute(
                text(
                    "INSERT INTO documents (id, title, body, owner_id, created_at) "
                    "VALUES (:id, :title, :body, :owner_id, :created_at)"
                ),
                {"id": d["id"], "title": d["title"], "body": d["body"], "owner_id": d["owner"], "created_at": d["created_at"]},
            )
        # explicit ids do not advance the sequences: move them past the seed (far past, for documents)
        conn.execute(text("SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT max(id) FROM users))"))
        conn.execute(text("SELECT setval(pg_get_serial_sequence('documents', 'id'), :start)"), {"start": data["sequence"]})
    return data


# --------------------------------------------------------------------------- helpers: in the judge


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


def rows(db) -> dict[int, tuple]:
    """Every document as another connection sees it: id -> (title, body, owner_id, created_at)."""
    with db.connect() as conn:
        result = conn.execute(text("SELECT id, title, body, owner_id, created_at FROM documents"))
        return {row.id: (row.title, row.body, row.owner_id, row.created_at) for row in result}


def seed_rows(data: dict) -> dict[int, tuple]:
    return {d["id"]: (d["title"], d["body"], d["owner"], d["created_at"]) for d in data["documents"]}


def newest_first(data: dict, owner: int) -> list[int]:
    own = [d for d in data["documents"] if d["owner"] == owner]
    return [d["id"] for d in sorted(own, key=lambda d: d["created_at"], reverse=True)]


def shown(result: dict) -> str:
    kind = result["kind"]
    if kind == "none":
        return "None"
    if kind == "bool":
        return repr(result["value"])
    if kind == "document":
        return f"<Document id={result['id']!r} title={result['title']!r}>"
    if kind == "list":
        return "[" + ", ".join(shown(item) for item in result["items"])[:80] + "]"
    return result["shown"]


def raised(result: dict, call: str, where: str) -> None:
    """A lookup error the act caught (it is part of the answer here): fail as the exception it is."""
    if "raised" not in result:
        return
    fail(f"{call} raised {result['raised']}: {result['text']} ({result['at'] or where})")


def expect_document(result: dict, call: str, doc_id: int | None = None) -> dict:
    """``result`` must describe a models.Document (with ``doc_id`` when given)."""
    raised(result, call, "crud.py")
    if result["kind"] != "document":
        got = "None" if result["kind"] == "none" else f"a {result.get('type', type(result.get('value')).__name__)} ({shown(result):.80})"
        hint = ""
        if result.get("type") == "Row":
            hint = (
                ": session.execute(select(Document)) yields Row tuples; session.scalars(...) (or "
                "`.scalar_one_or_none()` on the result) yields the Document objects"
            )
        fail(f"{call} returned {got}; it must return the Document object itself{hint}")
    if doc_id is not None and result["id"] != doc_id:
        fail(f"{call} returned the document with id {result['id']}, not the one with id {doc_id}")
    return result


def list_of_documents(result: dict, call: str) -> list[int]:
    """The ids of a list_documents() result; it must be a list (or other sequence) of Documents."""
    raised(result, call, "crud.py")
    if result["kind"] != "list":
        kind = result.get("type") or ("NoneType" if result["kind"] == "none" else result["kind"])
        fail(
            f"{call} returned a {kind}, not a list. A Result can be read only once and has "
            "no len(): finish with `.all()` — `session.scalars(stmt).all()` — or wrap it in list(...)"
        )
    for item in result["items"]:
        if item["kind"] != "document":
            kind = item.get("type") or ("NoneType" if item["kind"] == "none" else item["kind"])
            fail(
                f"{call} returned a list holding {kind} objects ({shown(item):.80}), not Documents. "
                "`session.execute(select(Document))` yields Row tuples; `session.scalars(...)` yields the "
                "Document objects themselves"
            )
    return [item["id"] for item in result["items"]]


def describe_ids(ids: list[int]) -> str:
    return "[" + ", ".join(str(i) for i in ids) + "]" if ids else "[] (nothing)"


def dates(data: dict, ids: list[int]) -> str:
    when = {d["id"]: d["created_at"] for d in data["documents"]}
    return ", ".join(f"{i} ({when[i]:%Y-%m-%d %H:%M})" for i in ids if i in when)


def read_documents(log, call: str, where: str, kinds: tuple[str, ...] = ("SELECT",)) -> None:
    """Postgres must have received a statement on documents while the call ran: an answer made up
    without asking the database is no answer."""
    if not any(s.shape.kind in kinds and s.shape.touches("documents") for s in log):
        fail(
            f"while {call} ran, Postgres received no {' or '.join(kinds)} on documents: the answer must come "
            f"from the database, through the Session it is given ({where})"
        )


# --------------------------------------------------------------------------- checks: in the judge


@check("create-document", "create_document() commits a new row and returns it with its id")
def create_document(learner, seeded, db):
    where = where_def(learner, "create_document")
    owner = seeded["users"][1]
    title, body = f"Fresh {_word(6)}", f"written by the grader {_word(8)}"
    before = rows(db)
    call = f"create_document(session, {title!r}, {body!r}, {owner})"
    doc = expect_document(learner.run(call_act, "create_document", title, body, owner), call)
    new_id = doc["id"]
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
    got_title, got_body, owner_id, created_at = after[new_id]
    if (got_title, got_body, owner_id) != (title, body, owner):
        fail(
            f"{call} stored title={got_title!r}, body={got_body!r}, owner_id={owner_id!r}; expected the values "
            f"it was given ({where})"
        )
    if created_at is None:
        fail(f"the new document has no created_at; leave it to the server default ({where})")
    added = set(after) - set(before) - {new_id}
    if added:
        fail(f"{call} inserted {len(added) + 1} rows (ids {sorted(added | {new_id})}); one call, one document")


call_act = call


@check("list-documents-newest-first", "list_documents() returns the owner's documents, newest first")
def list_documents_newest_first(learner, seeded, sql):
    where = where_def(learner, "list_documents")
    owner = seeded["users"][0]
    expected = newest_first(seeded, owner)
    call = f"list_documents(session, {owner})"
    with sql.capture() as log:
        value = learner.run(call_act, "list_documents", owner)
    got = list_of_documents(value, call)
    read_documents(log, call, where)
    own = [i for i in got if i in expected]  # other owners' rows are list-documents-owner-only's business
    missing = [i for i in expected if i not in own]
    if missing:
        fail(
            f"{call} returned {describe_ids(got)}; user {owner}'s documents are "
            f"{describe_ids(sorted(expected))}, and {describe_ids(missing)} are missing ({where})"
        )
    if len(own) != len(set(own)):
        fail(f"{call} returned some documents twice: {describe_ids(got)} ({where})")
    if own == expected:
        return
    ordering = first_order_by(log, "documents")
    queried = [statement for statement in log.selects if statement.shape.touches("documents")]
    sql.flag(queried[:1], f"ORDER BY {', '.join(ordering)}" if ordering else "no ORDER BY")
    fix = "sort by creation time, newest first: .order_by(Document.created_at.desc())"
    fail(
        f"{call} returned {dates(seeded, own)}; newest first is {dates(seeded, expected)}. "
        f"{ordering_mistake(ordering, 'created_at', True, fix)} ({where})"
    )


@check("list-documents-owner-only", "list_documents() returns only that owner's documents; [] for none")
def list_documents_owner_only(learner, seeded, sql):
    where = where_def(learner, "list_documents")
    owners = {d["id"]: d["owner"] for d in seeded["documents"]}
    for owner in seeded["users"]:
        call = f"list_documents(session, {owner})"
        with sql.capture() as log:
            got = list_of_documents(learner.run(call_act, "list_documents", owner), call)
        read_documents(log, call, where)
        expected = set(newest_first(seeded, owner))
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
            fail(f"{call} returned {describe_ids(got)}; user {owner} owns {describe_ids(sorted(expected))} ({where})")


@check("get-document", "get_document() returns the document with that id")
def get_document(learner, seeded, sql):
    where = where_def(learner, "get_document")
    titles = {d["id"]: d["title"] for d in seeded["documents"]}
    for doc_id in (seeded["by_shape"][13], seeded["by_shape"][21]):
        call = f"get_document(session, {doc_id})"
        with sql.capture() as log:
            doc = expect_document(learner.run(call_act, "get_document", doc_id), call, doc_id)
        read_documents(log, call, where)
        if doc["title"] != titles[doc_id]:
            fail(
                f"{call} returned a document titled {doc['title']!r}; "
                f"the row in Postgres is titled {titles[doc_id]!r} ({where})"
            )


@check("get-missing-document", "get_document() returns None for an id that does not exist")
def get_missing_document(learner, seeded, sql):
    where = where_def(learner, "get_document")
    missing = seeded["missing"]
    call = f"get_document(session, {missing})"
    with sql.capture() as log:
        result = learner.run(call_act, "get_document", missing)
    if result.get("raised") == "NoResultFound":
        fail(
            f"{call} raised NoResultFound ({result['at'] or where}). "
            "`.one()` and `.scalar_one()` demand exactly one row; a missing document is a normal answer "
            "here, so return None: use `.first()`, `.scalar_one_or_none()` or "
            "`session.get(Document, doc_id)`"
        )
    raised(result, call, where)
    if result["kind"] != "none":
        fail(
            f"{call} returned {shown(result):.80}, but there is no document with id "
            f"{missing}: it must return None ({where})"
        )
    read_documents(log, call, where)


@check("rename-document", "rename_document() commits exactly one UPDATE that sets only title")
def rename_document(learner, seeded, db, sql):
    where = where_def(learner, "rename_document")
    doc_id = seeded["by_shape"][12]
    title = f"Renamed {_word(7)}"
    call = f"rename_document(session, {doc_id}, {title!r})"
    with sql.capture() as log:
        result = learner.run(call_act, "rename_document", doc_id, title)
    doc = expect_document(result, call, doc_id)
    if doc["title"] != title:
        fail(f"{call} returned a document titled {doc['title']!r}; expected the new title ({where})")

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
        detail = (
            f"it also sets {', '.join(others)}"
            if others and "title" in columns
            else (f"it sets {', '.join(sorted(columns)) or 'nothing'}")
        )
        fail(
            f"the UPDATE sent by {call} must set the title column and nothing else, but {detail} "
            f"({update.location or where}). Writing the whole row back can overwrite a concurrent change "
            "to another column; set only the attribute that changed — `doc.title = title` — and let the "
            "session's change tracking build the UPDATE (or update(Document)...values(title=title))"
        )

    after = rows(db)
    if after.get(doc_id, (None,))[0] != title:
        fail(
            f"{call} sent its UPDATE, but another connection still sees the title "
            f"{after.get(doc_id, (None,))[0]!r}: the change was never committed. Call session.commit() after "
            f"setting the title ({where})"
        )
    expected = seed_rows(seeded)
    expected[doc_id] = (title, *expected[doc_id][1:])
    changed = sorted(i for i in expected if after.get(i) != expected[i])
    if changed:
        fail(f"after {call}, documents {changed} differ from what they should be; only the title of {doc_id} may change")


@check("rename-missing-document", "rename_document() returns None for a missing id and changes nothing")
def rename_missing_document(learner, seeded, db, sql):
    where = where_def(learner, "rename_document")
    missing = seeded["missing"]
    call = f"rename_document(session, {missing}, 'Ghost')"
    with sql.capture() as log:
        result = learner.run(call_act, "rename_document", missing, "Ghost")
    if result.get("raised") == "NoResultFound":
        fail(
            f"{call} raised NoResultFound ({result['at'] or where}); a missing document is a "
            "normal case: look it up with .first() / session.get(Document, doc_id) and return None when "
            "it is not there"
        )
    if result.get("raised") == "AttributeError":
        fail(
            f"{call} raised AttributeError: {result['text']} ({result['at'] or where}). The lookup "
            "found no document and returned None; check for it first: `if doc is None: return None`"
        )
    raised(result, call, where)
    if result["kind"] != "none":
        fail(f"{call} returned {shown(result):.80}; there is no document {missing}, so it must return None ({where})")
    after = rows(db)
    expected = seed_rows(seeded)
    if after != expected:
        added = sorted(set(after) - set(expected))
        changed = sorted(i for i in expected if after.get(i) != expected[i])
        fail(
            f"{call} changed the table (new rows: {added or 'none'}; changed rows: {changed or 'none'}); "
            f"renaming a document that does not exist must leave everything as it was ({where})"
        )
    read_documents(log, call, where, ("SELECT", "UPDATE"))


@check("delete-document", "delete_document() removes the row, commits, and returns True")
def delete_document(learner, seeded, db):
    where = where_def(learner, "delete_document")
    doc_id = seeded["by_shape"][14]
    call = f"delete_document(session, {doc_id})"
    result = learner.run(call_act, "delete_document", doc_id)
    raised(result, call, where)
    if result != {"kind": "bool", "value": True}:
        fail(f"{call} returned {shown(result)}; after deleting an existing document it must return True ({where})")
    after = rows(db)
    if doc_id in after:
        fail(
            f"{call} returned True, but another connection still sees document {doc_id}: the DELETE was never "
            "committed, so it is rolled back when the session ends. Call session.commit() after "
            f"session.delete(doc) ({where})"
        )
    gone = sorted(i for i in seed_rows(seeded) if i != doc_id and i not in after)
    if gone:
        fail(f"{call} also removed documents {gone}; delete only the one with that id ({where})")


@check("delete-missing-document", "delete_document() returns False for a missing id and deletes nothing")
def delete_missing_document(learner, seeded, db, sql):
    where = where_def(learner, "delete_document")
    missing = seeded["missing"]
    call = f"delete_document(session, {missing})"
    with sql.capture() as log:
        result = learner.run(call_act, "delete_document", missing)
    if result.get("raised") == "NoResultFound":
        fail(
            f"{call} raised NoResultFound ({result['at'] or where}); a missing document is a "
            "normal case: return False when the lookup finds nothing"
        )
    if "raised" in result:
        fail(
            f"{call} raised {result['raised']}: {result['text']} ({result['at'] or where}). "
            "The lookup found no document (None); check for it first: `if doc is None: return False`"
        )
    if result != {"kind": "bool", "value": False}:
        hint = ""
        if result == {"kind": "bool", "value": True}:
            hint = (
                ". A DELETE that matches no row is not an error, so reaching the end of the function proves "
                "nothing: look the document up first (return False when it is None), or check the "
                "`rowcount` of the DELETE's result"
            )
        fail(f"{call} returned {shown(result)}, but no document has id {missing}: it must return False{hint} ({where})")
    if set(rows(db)) != set(seed_rows(seeded)):
        fail(f"{call} removed documents that exist; it must leave the table untouched ({where})")
    read_documents(log, call, where, ("SELECT", "DELETE"))


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
