"""Checks for 11-loading: lazy="raise" on User.documents, selectinload for the collection,
joinedload for the many-to-one.

Judged apart from the learner's code (docs/authoring.md, "Acts and checks"): the acts below run
beside it, call the learner's functions on a fresh ``Session`` and touch what they returned; the
checks run in the judge. The judge seeds users with ids drawn for this run (and their documents)
through its own connection, and counts the SELECTs in what Postgres received (the server's
statement log), for two data sizes (3 and 30 users): a strategy costs a fixed number of queries,
an N+1 grows with the data. The rows each statement brought back are the learner's process's
word (``cursor.rowcount``), used only to say what a JOIN on a collection multiplies. lazy-raise
is testimony: that touching an unloaded collection raises is seen only in the learner's process
(the judge sees that no SELECT was sent).
"""

import random
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import event, inspect
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.orm import Session

from checker.authoring import act, check, fail, fix_or_hint, fixture
from checker.authoring.shared import configured_models, seed

HERE = Path(__file__).parent
SELECTIN = "select(User).options(selectinload(User.documents))"
JOINED = "select(Document).options(joinedload(Document.owner))"
RANDOM = random.SystemRandom()
SIGNATURES = {
    "users_with_documents": ("users_with_documents(session) -> list[User]", "User", "documents"),
    "documents_with_owners": ("documents_with_owners(session) -> list[Document]", "Document", "owner"),
}


def code_or_hint(learner, code: str, strategy: str) -> str:
    """The line to write once the learner has tried; on the untouched starter, only the strategy's
    name and the way to the hint (no solution code before the hints are used)."""
    hint = fix_or_hint(learner, HERE, "")
    return f"`{code}`" if not hint else f"{strategy} ({hint[0].lower()}{hint[1:]})"


# --------------------------------------------------------------------------- data (drawn in the judge)


def fresh_ids(count: int) -> list[int]:
    """``count`` user ids drawn for this run, short and long ones mixed, in shuffled order."""
    short = RANDOM.sample(range(1, 1000), count // 2)
    long = RANDOM.sample(range(1000, 99_999), count - count // 2)
    ids = short + long
    RANDOM.shuffle(ids)
    return ids


def seeded(db, user_ids: list[int]) -> dict[int, list[int]]:
    return seed(db, user_ids, RANDOM.randrange(1 << 30))


def owners_of(expected: dict[int, list[int]]) -> dict[int, int]:
    """document id -> owner id."""
    return {doc_id: owner for owner, docs in expected.items() for doc_id in docs}


# --------------------------------------------------------------------------- acts: in the learner's process


def is_raise_error(error: Exception) -> bool:
    return isinstance(error, InvalidRequestError) and "is not available due to lazy=" in str(error)


def _models(ctx):
    """The learner's models, with every mapper configured, both relationships still there."""
    learner = ctx.learner
    module = configured_models(learner)
    for class_name, attribute in (("User", "documents"), ("Document", "owner")):
        if attribute not in inspect(getattr(module, class_name)).relationships:
            fail(
                f"{class_name}.{attribute} must stay a relationship() (as in exercise 05) "
                f"({learner.where(class_name, attribute)})"
            )
    return module


def _call(ctx, name: str, session) -> list:
    """Run the learner's function: it must return a list of User (or Document) objects."""
    learner = ctx.learner
    signature, class_name, _ = SIGNATURES[name]
    fn = learner.require("queries", name, signature)
    if not callable(fn):
        fail(f"queries.{name} must be a function: {signature}")
    cls = getattr(_models(ctx), class_name)
    where = learner.where_defined(name, "queries.py")
    try:
        result = fn(session)
    except InvalidRequestError as error:
        message = str(error)
        if "unique() method must be invoked" in message:
            fail(
                f"{name}() raised InvalidRequestError: {message.split(' (Background')[0]}. That happens when "
                "joinedload() loads a *collection*: the JOIN sends each user's row once per document, and "
                "SQLAlchemy 2.0 will not hand you the duplicates silently. `.unique()` would hide the error, "
                f"but the right fix is the strategy made for collections: {code_or_hint(learner, SELECTIN, 'selectinload on User.documents')} ({where})"
            )
        if is_raise_error(error):
            attribute = message.split("'")[1] if "'" in message else "a relationship"
            fail(
                f"{name}() itself touched {attribute} before it was loaded, and lazy='raise' refused: "
                f"{message}. That refusal is the point of lazy='raise' — it caught an N+1. Do not touch the "
                f"relationship to load it; ask for it in the query with a loader option ({where})"
            )
        raise
    if not isinstance(result, Sequence) or isinstance(result, str | bytes):
        fail(
            f"{name}() returned a {type(result).__name__}, not a list: finish with `.all()` — "
            f"`session.scalars(stmt).all()` — or wrap the result in list(...) ({where})"
        )
    for item in result:
        if not isinstance(item, cls):
            fail(
                f"{name}() returned a list holding {type(item).__name__} objects ({item!r:.80}), not "
                f"{cls.__name__} objects: run the statement with session.scalars(...), which yields the "
                f"{cls.__name__} objects (session.execute(...) yields Row tuples) ({where})"
            )
    return list(result)


def _related(obj, attribute: str):
    """What ``obj.<attribute>`` holds, as plain data: sorted ids for a collection, ``[id, email]``
    for a User, None, or what it is instead."""
    value = getattr(obj, attribute)
    if value is None:
        return None
    if isinstance(value, list):
        return sorted(d.id for d in value)
    if type(value).__name__ == "User":
        return [value.id, value.email]
    return repr(getattr(value, "id", value))[:80]


@act
def create_tables(ctx) -> None:
    _models(ctx).Base.metadata.create_all(ctx.engine)


@act
def touch_unloaded(ctx, user_id: int) -> dict:
    """Load one user alone, then read user.documents: raised (lazy="raise") or what it gave."""
    User = _models(ctx).User
    prop = inspect(User).relationships["documents"]
    with Session(ctx.engine) as session:
        user = session.get(User, user_id)
        before = len(ctx.captured)
        try:
            documents = user.documents
        except InvalidRequestError as error:
            if is_raise_error(error):
                return {"raised": True, "lazy": prop.lazy, "before": before}
            raise
        return {"raised": False, "lazy": prop.lazy, "before": before, "shown": repr(documents)[:80]}


@act
def returned(ctx, name: str) -> list:
    """``[id, related]`` for each object the function returned (``{"refused": ...}`` when reading
    the relationship raised)."""
    attribute = SIGNATURES[name][2]
    with Session(ctx.engine) as session:
        got = []
        for obj in _call(ctx, name, session):
            try:
                got.append([obj.id, _related(obj, attribute)])
            except InvalidRequestError as error:
                if not is_raise_error(error):
                    raise
                got.append([obj.id, {"refused": str(error)}])
        return got


@act
def call_then_touch(ctx, name: str) -> dict:
    """Call the function on a fresh session, then read the relationship of every object returned.
    How many statements the call itself sent and the rows each SELECT brought back are hints."""
    attribute = SIGNATURES[name][2]
    counts: list[list] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        try:
            counts.append([statement, cursor.rowcount])
        except Exception:
            pass

    engine = ctx.engine
    event.listen(engine, "after_cursor_execute", count)
    try:
        with Session(engine) as session:
            objects = _call(ctx, name, session)
            during = len(ctx.captured)
            refused = None
            loaded = []
            for obj in objects:
                try:
                    loaded.append([obj.id, _related(obj, attribute)])
                except InvalidRequestError as error:
                    if not is_raise_error(error):
                        raise
                    refused = str(error)
                    break
    finally:
        event.remove(engine, "after_cursor_execute", count)
    rows = [n for statement, n in counts if statement.lstrip().upper().startswith(("SELECT", "WITH"))]
    return {"during": during, "count": len(objects), "refused": refused, "loaded": loaded, "rows": rows}


# --------------------------------------------------------------------------- fixtures and helpers: in the judge


@fixture
def tables(learner):
    learner.run(create_tables)


class RowCounts:
    """The rows each SELECT brought back, as the learner's process counted them (a hint)."""

    def __init__(self):
        self.counts: dict[int, int] = {}

    def add(self, statements: list, rows: list) -> None:
        chosen = selects(statements)
        if len(chosen) == len(rows):
            for statement, n in zip(chosen, rows, strict=True):
                if isinstance(n, int) and n >= 0:
                    self.counts[id(statement)] = n

    def of(self, statement) -> int | None:
        return self.counts.get(id(statement))


def measure(learner, sql, name: str, rows: RowCounts):
    """Returns (the statements Postgres received, how many of them the call sent — the learner's
    process's hint —, objects returned, the refusal raised by the reads, what was loaded)."""
    with sql.capture() as log:
        got = learner.run(call_then_touch, name)
    statements = list(log)
    rows.add(statements, got["rows"])
    return statements, min(int(got["during"]), len(statements)), got["count"], got["refused"], got["loaded"]


def selects(statements) -> list:
    return [s for s in statements if s.shape.kind == "SELECT"]


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def each_once(got: list[int], expected, function: str, noun: str, where: str) -> None:
    """Fail unless ``function()`` returned every expected row exactly once (ids in ``got``)."""
    if sorted(got) == sorted(expected):
        return
    missing = sorted(set(expected) - set(got))
    twice = sorted({i for i in got if got.count(i) > 1})
    detail = []
    if missing:
        detail.append(f"missing {noun}s {ids_line(missing)}")
    if twice:
        detail.append(f"{noun}s {ids_line(twice)} appear more than once")
    fail(
        f"{function}() returned {plural(len(got), noun)} for the {len(expected)} in the database: "
        f"{'; '.join(detail) or ids_line(got)} ({where})"
    )


def ids_line(ids, limit: int = 12) -> str:
    ids = list(ids)
    shown = ", ".join(str(i) for i in ids[:limit])
    return f"[{shown}{', …' if len(ids) > limit else ''}]"


# --------------------------------------------------------------------------- checks: in the judge


@check("lazy-raise", "touching User.documents when it was not loaded raises instead of sending a SELECT", testimony=True)
def lazy_raise(learner, tables, db, sql):
    user_id = RANDOM.choice([i for i in fresh_ids(6) if i % 4] or [1])
    seeded(db, [user_id])
    where = learner.where("User", "documents")
    with sql.capture() as log:
        seen = learner.run(touch_unloaded, user_id)
    touched = [s for s in selects(list(log)[min(int(seen["before"]), len(log)) :]) if s.shape.touches("documents")]
    if touched:
        sql.flag(touched, "lazy load of User.documents — lazy='raise' would have refused it")
        fail(
            f"reading user.documents on a user loaded without its documents sent a SELECT (marked below): "
            f"the relationship still loads lazily (lazy={seen['lazy']!r}) ({where}). In a loop over users that is "
            "one query per user — the N+1 problem — and nothing warns you. A relationship can refuse to load "
            "itself instead, so that a forgotten eager load raises InvalidRequestError. "
            + fix_or_hint(
                learner,
                HERE,
                'Declare `documents: Mapped[list["Document"]] = relationship(back_populates="owner", lazy="raise")`',
            )
        )
    if seen["raised"]:
        return  # lazy="raise" or lazy="raise_on_sql": refused, as wanted
    if seen["lazy"] in ("selectin", "joined", "subquery", "immediate"):
        fail(
            f"User.documents is declared lazy={seen['lazy']!r}, so every query for users loads their documents, "
            'whether the caller needs them or not. The exercise asks for lazy="raise": nothing is loaded '
            "unless a query asks for it (selectinload/joinedload), and a forgotten eager load raises "
            f"({where})"
        )
    fail(
        f"reading user.documents on a user loaded without its documents gave {seen.get('shown', '')} instead of "
        f'raising (lazy={seen["lazy"]!r}). Declare it with lazy="raise" so that a missing eager load is an '
        f"error you see in tests ({where})"
    )


def read_from_database(log, table: str, what: str, where: str) -> None:
    """Outside evidence: Postgres received a SELECT of ``table`` while the act ran."""
    if not any(s.shape.kind == "SELECT" and s.shape.touches(table) for s in log):
        fail(f"{what}, but Postgres received no SELECT from {table} while it ran: the data must come from the database ({where})")


@check("users-with-documents", "users_with_documents() returns every user once, each with exactly their documents")
def users_with_documents_correct(learner, tables, db, sql):
    expected = seeded(db, fresh_ids(12))
    where = learner.where_defined("users_with_documents", "queries.py")
    with sql.capture() as log:
        got = learner.run(returned, "users_with_documents")
    each_once([user_id for user_id, _ in got], expected, "users_with_documents", "user", where)
    for user_id, documents in got:
        if isinstance(documents, dict):
            fail(
                f"users_with_documents() returned users whose documents were not loaded: reading "
                f"user.documents raised `{documents.get('refused')}`. lazy='raise' just caught a missing eager load — load "
                f"the collection in the query: {code_or_hint(learner, SELECTIN, 'selectinload on User.documents')} ({where})"
            )
        want = sorted(expected[user_id])
        if documents != want:
            fail(
                f"user {user_id}'s .documents holds {documents or '[]'} after users_with_documents(); that "
                f"user owns {want or 'no documents'}. Load the relationship itself — {code_or_hint(learner, SELECTIN, 'selectinload on User.documents')} — "
                f"rather than joining or filtering documents by hand ({where})"
            )
    read_from_database(log, "documents", "every user carried the right documents", where)


@check(
    "selectin-collection",
    "users_with_documents(): 2 SELECTs for 3 and for 30 users — the second `... IN (...)` on documents, no JOIN",
)
def selectin_collection(learner, tables, db, sql):
    user_ids = fresh_ids(30)
    expected = seeded(db, user_ids[:3])
    rows = RowCounts()
    small = measure(learner, sql, "users_with_documents", rows)
    expected.update(seeded(db, user_ids[3:]))  # 30 users in all
    large = measure(learner, sql, "users_with_documents", rows)
    where = learner.where_defined("users_with_documents", "queries.py")
    documents_total = sum(len(docs) for docs in expected.values())

    for _, _, _, refused, _ in (small, large):
        if refused is not None:
            fail(
                f"users_with_documents() returned users whose documents were not loaded: reading "
                f"user.documents raised `{refused}`. lazy='raise' caught a missing eager load — load the "
                f"collection in the query: {code_or_hint(learner, SELECTIN, 'selectinload on User.documents')} ({where})"
            )

    (log_s, _, users_s, _, _), (log_l, during_l, users_l, _, loaded) = small, large
    sel_s, sel_l = selects(log_s), selects(log_l)
    counts = f"{plural(len(sel_s), 'SELECT')} for {users_s} users, {len(sel_l)} for {users_l} users"
    if sel_l and sel_l[0].location:
        where = sel_l[0].location

    lazy = [s for s in sel_s + sel_l if s.lazy_load]
    if lazy:
        sql.flag(lazy, f"lazy load of {lazy[0].lazy_load} — one per user (N+1)")
        inside = [s for s in selects(log_l[:during_l]) if s.lazy_load]
        timing = "users_with_documents() itself" if inside else "touching user.documents afterwards"
        fail(
            f"{timing} sent one lazy SELECT per user (marked below) — the N+1 problem: {counts}. The "
            f'collection was not loaded up front in the query (and User.documents is not lazy="raise", '
            f"or this would have raised). Use {code_or_hint(learner, SELECTIN, 'selectinload on User.documents')} ({where})"
        )

    for statement in sel_l:
        if statement.shape.has_join and statement.shape.has_in_list and statement.shape.touches("documents"):
            sql.flag([statement], "the selectinload query, with a JOIN added")
            fail(
                "the documents query of users_with_documents() has a JOIN (marked below): something besides "
                "the documents is loaded along with them, e.g. a chained `.joinedload(Document.owner)`. Each "
                "document's owner is a user this very query already loaded, so that JOIN only adds columns. "
                f"Load just the collection: {code_or_hint(learner, SELECTIN, 'selectinload on User.documents')} ({where})"
            )
        if statement.shape.has_join and statement.shape.touches("documents"):
            sent = rows.of(statement)
            detail = ""
            if sent is not None and sent > users_l:
                detail = (
                    f" Postgres sent {plural(sent, 'row')} for {users_l} users: each user's columns travel "
                    "once per document, and SQLAlchemy folds the duplicates back together (that is what "
                    ".unique() is for)."
                )
            if statement.shape.has_subquery:
                sql.flag([statement], "subqueryload: the users query again, as a subquery, joined to documents")
                fail(
                    "users_with_documents() loads the collection with subqueryload: its second SELECT re-runs "
                    "your users query as a subquery and JOINs documents to it (marked below). It works, but it "
                    "is the legacy strategy — ordering and LIMIT make that subquery awkward, and on Postgres it "
                    f"gains nothing. selectinload is the modern choice for collections: {code_or_hint(learner, SELECTIN, 'selectinload on User.documents')}, whose "
                    f"second query is a plain `WHERE documents.owner_id IN (...)` ({where})"
                )
            sql.flag([statement], "a JOIN loading a collection")
            fail(
                "users_with_documents() loads User.documents with a JOIN (marked below) — joinedload on a "
                f"collection.{detail} For a one-to-many, use selectinload: one extra query, "
                f"`WHERE documents.owner_id IN (...)`, every row sent once: {code_or_hint(learner, SELECTIN, 'selectinload on User.documents')} ({where})"
            )

    if len(sel_s) != 2 or len(sel_l) != 2:
        sql.flag(sel_l[2:] if len(sel_l) > 2 else sel_l, "")
        fail(
            f"users_with_documents() and the reads of user.documents sent {counts}; selectinload costs "
            f"exactly 2 — one for the users, one for all their documents: {code_or_hint(learner, SELECTIN, 'selectinload on User.documents')} ({where})"
        )

    for first, second in (sel_s, sel_l):
        if not (second.shape.touches("documents") and second.shape.has_in_list):
            sql.flag([second], "expected: SELECT ... FROM documents WHERE documents.owner_id IN (...)")
            fail(
                "the second SELECT of users_with_documents() is not the selectinload query "
                "`SELECT ... FROM documents WHERE documents.owner_id IN (...)` (marked below). Load the "
                f"collection with {code_or_hint(learner, SELECTIN, 'selectinload on User.documents')} ({where})"
            )
        if not first.shape.touches("users"):
            sql.flag([first], "expected: SELECT ... FROM users")
            fail(f"the first SELECT of users_with_documents() should read the users (marked below) ({where})")

    # no row multiplication: the users once each, then their documents once each
    user_rows, document_rows = rows.of(sel_l[0]), rows.of(sel_l[1])
    if user_rows is not None and user_rows != users_l:
        sql.flag([sel_l[0]], f"{plural(user_rows, 'row')} for {users_l} users")
        fail(
            f"the users query sent {plural(user_rows, 'row')} for {users_l} users: rows are multiplied "
            f"(marked below). Select the users alone and let selectinload fetch the documents ({where})"
        )
    if document_rows is not None and document_rows != documents_total:
        sql.flag([sel_l[1]], f"{plural(document_rows, 'row')} for {documents_total} documents")
        fail(
            f"the documents query sent {plural(document_rows, 'row')} for the {documents_total} documents "
            f"the users own (marked below): each document must arrive once ({where})"
        )

    for user_id, documents in loaded:
        want = sorted(expected.get(user_id, []))
        if documents != want:
            fail(
                f"user {user_id}'s .documents holds {documents or '[]'} after users_with_documents(); that user owns "
                f"{want or 'no documents'}: load the relationship itself — {code_or_hint(learner, SELECTIN, 'selectinload on User.documents')} ({where})"
            )


@check("documents-with-owners", "documents_with_owners() returns every document once, each with its right owner")
def documents_with_owners_correct(learner, tables, db, sql):
    expected = owners_of(seeded(db, fresh_ids(12)))
    where = learner.where_defined("documents_with_owners", "queries.py")
    with sql.capture() as log:
        got = learner.run(returned, "documents_with_owners")
    each_once([doc_id for doc_id, _ in got], expected, "documents_with_owners", "document", where)
    for doc_id, owner in got:
        want = expected[doc_id]
        if isinstance(owner, dict):
            fail(
                f"documents_with_owners() returned documents whose owner was not loaded: reading doc.owner "
                f"raised `{owner.get('refused')}`. Load it in the query: {code_or_hint(learner, JOINED, 'joinedload on Document.owner')} ({where})"
            )
        if not isinstance(owner, list) or owner != [want, f"user{want}@example.com"]:
            got_owner = "None" if owner is None else f"user {owner[0] if isinstance(owner, list) else owner!r}"
            fail(
                f"document {doc_id}.owner is {got_owner} after documents_with_owners(); its owner_id is "
                f"{want}, so .owner must be that User. Load the relationship — {code_or_hint(learner, JOINED, 'joinedload on Document.owner')} — rather than "
                f"joining users by hand ({where})"
            )
    read_from_database(log, "users", "every document carried its owner", where)


@check("joined-owner", "documents_with_owners(): exactly 1 SELECT, joining users, for 3 and for 30 users")
def joined_owner(learner, tables, db, sql):
    user_ids = fresh_ids(30)
    expected = seeded(db, user_ids[:3])
    rows = RowCounts()
    small = measure(learner, sql, "documents_with_owners", rows)
    expected.update(seeded(db, user_ids[3:]))  # 30 users in all
    large = measure(learner, sql, "documents_with_owners", rows)
    where = learner.where_defined("documents_with_owners", "queries.py")

    for _, _, _, refused, _ in (small, large):
        if refused is not None:
            fail(
                f"documents_with_owners() returned documents whose owner was not loaded: reading doc.owner "
                f"raised `{refused}`. Load it in the query: {code_or_hint(learner, JOINED, 'joinedload on Document.owner')} ({where})"
            )

    (log_s, _, docs_s, _, _), (log_l, during_l, docs_l, _, loaded) = small, large
    sel_s, sel_l = selects(log_s), selects(log_l)
    counts = f"{plural(len(sel_s), 'SELECT')} for {docs_s} documents, {len(sel_l)} for {docs_l} documents"
    if sel_l and sel_l[0].location:
        where = sel_l[0].location

    lazy = [s for s in sel_s + sel_l if s.lazy_load]
    if lazy:
        sql.flag(lazy, f"lazy load of {lazy[0].lazy_load} — one per owner (N+1)")
        first = sel_l[0].shape if sel_l else None
        hint = ""
        if first is not None and first.has_join and first.touches("users"):
            hint = (
                " Your query does JOIN users, but a JOIN only shapes the rows it returns; it does not fill "
                "document.owner (that takes joinedload, or contains_eager for a join you wrote yourself)."
            )
        inside = [s for s in selects(log_l[:during_l]) if s.lazy_load]
        if inside:
            origin = inside[0].location or where
            fail(
                f"documents_with_owners() itself sent one lazy SELECT per owner (marked below; {origin}): "
                f"touching doc.owner in a loop loads the owners one at a time — still the N+1 problem, just "
                f"moved inside the function. {counts}.{hint} Load them all in the same query: {code_or_hint(learner, JOINED, 'joinedload on Document.owner')} "
                f"({where})"
            )
        fail(
            f"documents_with_owners() returned the documents without their owners: reading doc.owner "
            f"afterwards sent one lazy SELECT per owner (marked below) — the N+1 problem. {counts}.{hint} Load "
            f"the owners in the same query: {code_or_hint(learner, JOINED, 'joinedload on Document.owner')} ({where})"
        )

    if len(sel_l) == 2 and sel_l[1].shape.touches("users") and sel_l[1].shape.has_in_list:
        sql.flag([sel_l[1], sel_s[-1]] if len(sel_s) == 2 else [sel_l[1]], "a second round trip for the owners")
        fail(
            f"documents_with_owners() loads the owners with a second query, `... FROM users WHERE users.id IN "
            f"(...)` (marked below) — selectinload. It is not an N+1, but for a many-to-one it is a round trip "
            "you need not pay: each document has exactly one owner, so a JOIN adds the owner's columns to the "
            f"document's row without adding rows. Use joinedload: {code_or_hint(learner, JOINED, 'joinedload on Document.owner')} ({where})"
        )

    if len(sel_s) != 1 or len(sel_l) != 1:
        sql.flag(sel_l[1:], "extra SELECT")
        fail(
            f"documents_with_owners() and the reads of doc.owner sent {counts}; joinedload needs exactly one: "
            f"the documents and their owners in one JOIN: {code_or_hint(learner, JOINED, 'joinedload on Document.owner')} ({where})"
        )

    for statement in (sel_s[0], sel_l[0]):
        shape = statement.shape
        if not (shape.has_join and shape.touches("users") and shape.touches("documents")):
            sql.flag([statement], "expected: SELECT ... FROM documents ... JOIN users ...")
            fail(
                "documents_with_owners() sent one SELECT, but it does not join documents to users (marked "
                f"below). Load the owner in the same query: {code_or_hint(learner, JOINED, 'joinedload on Document.owner')} ({where})"
            )
    sent = rows.of(sel_l[0])
    if sent is not None and sent != docs_l:
        sql.flag([sel_l[0]], f"{plural(sent, 'row')} for {docs_l} documents")
        fail(
            f"the query sent {plural(sent, 'row')} for {docs_l} documents: each document should arrive once, "
            f"with its owner's columns on the same row ({where})"
        )

    owners = owners_of(expected)
    for doc_id, owner in loaded:
        if not isinstance(owner, list) or owner[0] != owners.get(doc_id):
            fail(
                f"document {doc_id}.owner is {owner!r:.80} after documents_with_owners(); its owner_id is "
                f"{owners.get(doc_id)}: load the relationship itself — {code_or_hint(learner, JOINED, 'joinedload on Document.owner')} ({where})"
            )
