"""Checks for 11-loading: lazy="raise" on User.documents, selectinload for the collection,
joinedload for the many-to-one.

Data is seeded through the grader's own connection (not captured, not in any identity map); the
learner's functions run on a fresh ``Session`` over an engine created here, so every statement
they send is captured. Counts are taken for two data sizes (3 and 30 users): a strategy costs a
fixed number of queries, an N+1 grows with the data. The rows each statement brought back are
counted too (``cursor.rowcount``), to show what a JOIN on a collection multiplies.
"""

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import event, inspect
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.orm import Session

from checker.authoring import check, fail, fix_or_hint, fixture
from checker.authoring.shared import configured_models, seed

HERE = Path(__file__).parent
SELECTIN = "select(User).options(selectinload(User.documents))"
JOINED = "select(Document).options(joinedload(Document.owner))"


def code_or_hint(learner, code: str, strategy: str) -> str:
    """The line to write once the learner has tried; on the untouched starter, only the strategy's
    name and the way to the hint (no solution code before the hints are used)."""
    hint = fix_or_hint(learner, HERE, "")
    return f"`{code}`" if not hint else f"{strategy} ({hint[0].lower()}{hint[1:]})"


# --------------------------------------------------------------------------- data




def owners_of(expected: dict[int, list[int]]) -> dict[int, int]:
    """document id -> owner id."""
    return {doc_id: owner for owner, docs in expected.items() for doc_id in docs}


# --------------------------------------------------------------------------- fixtures


@fixture
def models(learner):
    """The learner's models, with every mapper configured."""
    module = configured_models(learner)
    for class_name, attribute in (("User", "documents"), ("Document", "owner")):
        if attribute not in inspect(getattr(module, class_name)).relationships:
            fail(
                f"{class_name}.{attribute} must stay a relationship() (as in exercise 05) "
                f"({learner.where(class_name, attribute)})"
            )
    return module


@fixture
def tables(models, db):
    models.Base.metadata.create_all(db)


class RowCounter:
    """Rows each statement of an engine brought back, keyed by its execution context."""

    def __init__(self):
        self.rows: list[tuple[object, int]] = []

    def __call__(self, conn, cursor, statement, parameters, context, executemany):
        try:
            self.rows.append((context, cursor.rowcount))
        except Exception:
            pass

    def of(self, statement) -> int | None:
        context = getattr(statement, "_context", None)
        for seen, count in self.rows:
            if seen is context and context is not None:
                return count
        return None


@fixture
def engine(captured_engine):
    """The engine for the learner's sessions: its SQL is captured, and the rows it fetches are
    counted (an option engine of the grader's: no connection of its own, a listener of its own)."""
    engine = captured_engine.execution_options()
    engine.row_counter = RowCounter()
    event.listen(engine, "after_cursor_execute", engine.row_counter)
    return engine


def function(learner, name: str, signature: str):
    value = learner.require("queries", name, signature)
    if not callable(value):
        fail(f"queries.{name} must be a function: {signature}")
    return value


@fixture
def users_with_documents(learner):
    return function(learner, "users_with_documents", "users_with_documents(session) -> list[User]")


@fixture
def documents_with_owners(learner):
    return function(learner, "documents_with_owners", "documents_with_owners(session) -> list[Document]")


# --------------------------------------------------------------------------- helpers


def is_raise_error(error: Exception) -> bool:
    return isinstance(error, InvalidRequestError) and "is not available due to lazy=" in str(error)


def call(learner, fn, name: str, session, cls) -> list:
    """Run the learner's function: it must return a list of ``cls`` objects."""
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


# --------------------------------------------------------------------------- checks


@check("lazy-raise", "touching User.documents when it was not loaded raises instead of sending a SELECT")
def lazy_raise(learner, models, tables, db, engine, sql):
    seed(db, [1, 2, 3], 3)
    User = models.User
    where = learner.where("User", "documents")
    prop = inspect(User).relationships["documents"]
    with Session(engine) as session:
        user = session.get(User, 1)
        with sql.capture() as log:
            try:
                documents = user.documents
            except InvalidRequestError as error:
                if is_raise_error(error):
                    return  # lazy="raise" or lazy="raise_on_sql": refused, as wanted
                raise
    lazy = log.lazy_loads
    if lazy:
        sql.flag(lazy, "lazy load of User.documents — lazy='raise' would have refused it")
        fail(
            f"reading user.documents on a user loaded without its documents sent a SELECT (marked below): "
            f"the relationship still loads lazily (lazy={prop.lazy!r}) ({where}). In a loop over users that is "
            "one query per user — the N+1 problem — and nothing warns you. A relationship can refuse to load "
            "itself instead, so that a forgotten eager load raises InvalidRequestError. "
            + fix_or_hint(learner, HERE,
                          'Declare `documents: Mapped[list["Document"]] = relationship(back_populates="owner", lazy="raise")`')
        )
    if prop.lazy in ("selectin", "joined", "subquery", "immediate"):
        fail(
            f"User.documents is declared lazy={prop.lazy!r}, so every query for users loads their documents, "
            "whether the caller needs them or not. The exercise asks for lazy=\"raise\": nothing is loaded "
            "unless a query asks for it (selectinload/joinedload), and a forgotten eager load raises "
            f"({where})"
        )
    fail(
        f"reading user.documents on a user loaded without its documents gave {documents!r:.80} instead of "
        f"raising (lazy={prop.lazy!r}). Declare it with lazy=\"raise\" so that a missing eager load is an "
        f"error you see in tests ({where})"
    )


@check("users-with-documents", "users_with_documents() returns every user once, each with exactly their documents")
def users_with_documents_correct(learner, models, tables, db, engine, users_with_documents):
    expected = seed(db, list(range(1, 13)), 12)
    where = learner.where_defined("users_with_documents", "queries.py")
    with Session(engine) as session:
        users = call(learner, users_with_documents, "users_with_documents", session, models.User)
        got = [user.id for user in users]
        each_once(got, expected, "users_with_documents", "user", where)
        for user in users:
            try:
                got_docs = sorted(d.id for d in user.documents)
            except InvalidRequestError as error:
                if not is_raise_error(error):
                    raise
                fail(
                    f"users_with_documents() returned users whose documents were not loaded: reading "
                    f"user.documents raised `{error}`. lazy='raise' just caught a missing eager load — load "
                    f"the collection in the query: {code_or_hint(learner, SELECTIN, 'selectinload on User.documents')} ({where})"
                )
            want = sorted(expected[user.id])
            if got_docs != want:
                fail(
                    f"user {user.id}'s .documents holds {got_docs or '[]'} after users_with_documents(); that "
                    f"user owns {want or 'no documents'}. Load the relationship itself — {code_or_hint(learner, SELECTIN, 'selectinload on User.documents')} — "
                    f"rather than joining or filtering documents by hand ({where})"
                )


def measure(fn, name, learner, engine, models, cls, attribute, sql):
    """Call ``fn`` on a fresh session, then read ``attribute`` of every object returned.

    Returns (log, statements sent during the call, objects returned, error raised by the reads).
    """
    with Session(engine) as session:
        with sql.capture() as log:
            objects = call(learner, fn, name, session, cls)
            during = len(log)
            refused = None
            for obj in objects:
                try:
                    value = getattr(obj, attribute)
                    if isinstance(value, list):
                        list(value)
                except InvalidRequestError as error:
                    if not is_raise_error(error):
                        raise
                    refused = error
                    break
        return log, during, len(objects), refused


@check(
    "selectin-collection",
    "users_with_documents(): 2 SELECTs for 3 and for 30 users — the second `... IN (...)` on documents, no JOIN",
)
def selectin_collection(learner, models, tables, db, engine, users_with_documents, sql):
    seed(db, [1, 2, 3], 3)
    args = (users_with_documents, "users_with_documents", learner, engine, models, models.User, "documents", sql)
    small = measure(*args)
    seed(db, list(range(4, 31)), 31)  # 30 users in all
    large = measure(*args)
    rows = engine.row_counter
    where = learner.where_defined("users_with_documents", "queries.py")
    documents_total = sum(1 for user_id in range(1, 31) for _ in range(user_id % 4))

    for *_, refused in (small, large):
        if refused is not None:
            fail(
                f"users_with_documents() returned users whose documents were not loaded: reading "
                f"user.documents raised `{refused}`. lazy='raise' caught a missing eager load — load the "
                f"collection in the query: {code_or_hint(learner, SELECTIN, 'selectinload on User.documents')} ({where})"
            )

    (log_s, _, users_s, _), (log_l, during_l, users_l, _) = small, large
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
            f"collection was not loaded up front in the query (and User.documents is not lazy=\"raise\", "
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


@check("documents-with-owners", "documents_with_owners() returns every document once, each with its right owner")
def documents_with_owners_correct(learner, models, tables, db, engine, documents_with_owners):
    expected = owners_of(seed(db, list(range(1, 13)), 12))
    where = learner.where_defined("documents_with_owners", "queries.py")
    with Session(engine) as session:
        documents = call(learner, documents_with_owners, "documents_with_owners", session, models.Document)
        got = [doc.id for doc in documents]
        each_once(got, expected, "documents_with_owners", "document", where)
        for doc in documents:
            owner = doc.owner
            want = expected[doc.id]
            if not isinstance(owner, models.User) or owner.id != want or owner.email != f"user{want}@example.com":
                got_owner = "None" if owner is None else f"user {getattr(owner, 'id', owner)!r}"
                fail(
                    f"document {doc.id}.owner is {got_owner} after documents_with_owners(); its owner_id is "
                    f"{want}, so .owner must be that User. Load the relationship — {code_or_hint(learner, JOINED, 'joinedload on Document.owner')} — rather than "
                    f"joining users by hand ({where})"
                )


@check("joined-owner", "documents_with_owners(): exactly 1 SELECT, joining users, for 3 and for 30 users")
def joined_owner(learner, models, tables, db, engine, documents_with_owners, sql):
    seed(db, [1, 2, 3], 3)
    args = (documents_with_owners, "documents_with_owners", learner, engine, models, models.Document, "owner", sql)
    small = measure(*args)
    seed(db, list(range(4, 31)), 31)  # 30 users in all
    large = measure(*args)
    rows = engine.row_counter
    where = learner.where_defined("documents_with_owners", "queries.py")

    for *_, refused in (small, large):
        if refused is not None:
            fail(
                f"documents_with_owners() returned documents whose owner was not loaded: reading doc.owner "
                f"raised `{refused}`. Load it in the query: {code_or_hint(learner, JOINED, 'joinedload on Document.owner')} ({where})"
            )

    (log_s, _, docs_s, _), (log_l, during_l, docs_l, _) = small, large
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
