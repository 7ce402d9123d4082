"""Checks for 05-relationships: User.documents <-> Document.owner, and loading them without the N+1.

Data is seeded through the grader's own connection (not captured, and not in any session's
identity map); the learner's code then runs on a fresh ``Session`` over the built-in ``captured_engine``, so
every statement it sends is captured. Users are inserted in shuffled id order, so a query without
ORDER BY shows it; each user's documents are compared as sets.
"""

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from checker.authoring import calls, check, fail, fix_or_hint, fixture, step
from checker.authoring.shared import configured_models, first_order_by, ordering_mistake, seed

FIX = "select(User).options(selectinload(User.documents))"
HERE = Path(__file__).parent


# --------------------------------------------------------------------------- fixtures


@fixture
def models(learner):
    """The learner's models, with every mapper configured (a backref only exists after this)."""
    return configured_models(
        learner, '. Check that each back_populates="..." names the attribute on the *other* class, and that both sides exist'
    )


@fixture
def tables(models, db):
    models.Base.metadata.create_all(db, checkfirst=False)  # every check starts on an empty schema


@fixture
def users_with_documents(learner):
    function = learner.require("queries", "users_with_documents", "users_with_documents(session) -> list[User]")
    if not callable(function):
        fail("queries.users_with_documents must be a function: users_with_documents(session) -> list[User]")
    return function


# --------------------------------------------------------------------------- helpers


def relationship(learner, models, class_name: str, attribute: str, *, collection: bool, target: str):
    """The mapper property ``class_name.attribute``; a failure that says what to write if it is wrong."""
    mapper = inspect(getattr(models, class_name))
    where = learner.where(class_name, attribute)
    if class_name == "User":
        example = 'documents: Mapped[list["Document"]] = relationship(back_populates="owner")'
    else:
        example = 'owner: Mapped["User"] = relationship(back_populates="documents")'
    if attribute not in mapper.relationships:
        if attribute in mapper.attrs:
            fail(f"{class_name}.{attribute} is a column, not a relationship(): declare `{example}` ({where})")
        other = "Document" if class_name == "User" else "User"
        fail(
            f"{class_name} has no relationship `{attribute}` ({where}): the foreign key documents.owner_id links "
            f"the tables, but without relationship() an object cannot reach its {other.lower()}"
            f"{'s' if collection else ''} as `{class_name.lower()}.{attribute}` — only a query could. Each side of a "
            "one-to-many declares its relationship() and names the other with back_populates. "
            + fix_or_hint(learner, HERE, f"Add `{example}` to class {class_name}")
        )
    prop = mapper.relationships[attribute]
    if prop.mapper.class_ is not getattr(models, target):
        fail(
            f"{class_name}.{attribute} points at {prop.mapper.class_.__name__}, not {target}: `{example}` "
            f"({where})"
        )
    if prop.uselist != collection:
        if collection:
            fail(
                f"User.documents holds a single Document; a user has many documents, so annotate it "
                f'Mapped[list["Document"]] ({where})'
            )
        fail(f'Document.owner is a list; a document has one owner, so annotate it Mapped["User"] ({where})')
    return prop


def both_sides(learner, models):
    relationship(learner, models, "User", "documents", collection=True, target="Document")
    relationship(learner, models, "Document", "owner", collection=False, target="User")


def documents_side(learner, models):
    relationship(learner, models, "User", "documents", collection=True, target="Document")


def call(users_with_documents, session, models) -> list:
    """Run the learner's function; it must return a list of User objects."""
    result = users_with_documents(session)
    if not isinstance(result, Sequence) or isinstance(result, str | bytes):
        fail(
            f"users_with_documents() returned a {type(result).__name__}, not a list: finish with `.all()` "
            "— `session.scalars(stmt).all()` — or wrap the result in list(...)"
        )
    for item in result:
        if not isinstance(item, models.User):
            fail(
                f"users_with_documents() returned a list holding {type(item).__name__} objects ({item!r:.80}), "
                "not Users: run the statement with session.scalars(...), which yields the User objects "
                "(session.execute(...) yields Row tuples)"
            )
    return list(result)


def ids_line(ids: list[int], limit: int = 12) -> str:
    shown = ", ".join(str(i) for i in ids[:limit])
    return f"[{shown}{', …' if len(ids) > limit else ''}]"


def queries_line(learner) -> str:
    """``queries.py:12`` — where users_with_documents is defined."""
    import ast

    try:
        tree = learner.tree("queries.py")
    except SyntaxError:
        return "queries.py"
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "users_with_documents":
            return f"queries.py:{node.lineno}"
    return "queries.py"


# --------------------------------------------------------------------------- checks


@check("navigate-both-ways", "user.documents lists a user's documents; document.owner is its user")
def navigate_both_ways(learner, models, tables, db, captured_engine):
    both_sides(learner, models)
    expected = seed(db, [1, 2, 3], 5)
    User, Document = models.User, models.Document
    with Session(captured_engine) as session:
        for user_id in (1, 2, 3):
            user = session.get(User, user_id)
            got = sorted(d.id for d in user.documents)
            if got != sorted(expected[user_id]):
                fail(
                    f"user {user_id}'s .documents holds documents {got}; in the database that user owns "
                    f"{sorted(expected[user_id])}. relationship() follows the foreign key documents.owner_id "
                    f"({learner.where('User', 'documents')})"
                )
    with Session(captured_engine) as session:
        for doc_id, owner_id in ((101, 1), (202, 2), (303, 3)):
            document = session.get(Document, doc_id)
            owner = document.owner
            if not isinstance(owner, User) or owner.id != owner_id:
                got = "None" if owner is None else f"user {getattr(owner, 'id', owner)!r}"
                fail(
                    f"document {doc_id}.owner is {got}; its owner_id is {owner_id}, so .owner must be that "
                    f"User ({learner.where('Document', 'owner')})"
                )


@check("back-populates-sync", "both sides stay in sync in memory, before any flush (back_populates)")
def back_populates_sync(learner, models):
    both_sides(learner, models)
    User, Document = models.User, models.Document
    with step('building User(email=..., name=...) and Document(title=..., body=...) in memory', "models.py"):
        ada, grace = User(email="ada@example.com", name="Ada"), User(email="grace@example.com", name="Grace")
        notes, draft = Document(title="Notes", body="text"), Document(title="Draft", body="text")
    ada.documents.append(notes)
    if notes.owner is not ada:
        fail(
            "after `user.documents.append(doc)`, doc.owner is "
            f"{'None' if notes.owner is None else repr(notes.owner)} instead of that user. Without "
            "back_populates the two relationships are unrelated: each is filled only by a flush and a reload, "
            "so code that builds objects in memory sees half the link. Name the other side on both: "
            'relationship(back_populates="owner") on User.documents and relationship(back_populates='
            f'"documents") on Document.owner ({learner.where("User", "documents")})'
        )
    draft.owner = grace
    if draft not in grace.documents:
        fail(
            "after `doc.owner = user`, the document is not in user.documents. Both relationships must name "
            'each other: back_populates="documents" on Document.owner, back_populates="owner" on '
            f"User.documents ({learner.where('Document', 'owner')})"
        )
    draft.owner = ada
    if draft in grace.documents or draft not in ada.documents:
        fail(
            "after moving a document to another owner (`doc.owner = other_user`), it must leave the first "
            "user's .documents and appear in the new one's; use back_populates on both sides "
            f"({learner.where('Document', 'owner')})"
        )


@check("users-ordered-by-id", "users_with_documents() returns every user, ordered by id")
def users_ordered_by_id(learner, models, tables, db, captured_engine, users_with_documents, sql):
    user_ids = list(range(1, 31))
    seed(db, user_ids, 30)
    with Session(captured_engine) as session, sql.capture() as log:
        users = call(users_with_documents, session, models)
        got = [user.id for user in users]
    where = queries_line(learner)
    if sorted(got) != user_ids or len(got) != len(set(got)):
        missing = sorted(set(user_ids) - set(got))
        twice = sorted({i for i in got if got.count(i) > 1})
        detail = []
        if missing:
            detail.append(f"missing users {ids_line(missing)}")
        if twice:
            detail.append(
                f"users {ids_line(twice)} appear more than once (a JOIN repeats each user once per "
                "document; with joinedload, call .unique() on the result)"
            )
        fail(
            f"users_with_documents() returned {len(got)} users for the 30 in the database: "
            f"{'; '.join(detail) or ids_line(got)} ({where})"
        )
    if got != user_ids:
        ordering = first_order_by(log, "users")
        sql.flag([s for s in log.selects if s.shape.touches("users")][:1], "the users query")
        fix = f"add .order_by(User.id) to the statement ({where})"
        fail(f"users_with_documents() returned the users in the order {ids_line(got)}. {ordering_mistake(ordering, 'id', False, fix)}")


@check("documents-loaded", "each user carries exactly their own documents")
def documents_loaded(learner, models, tables, db, captured_engine, users_with_documents):
    documents_side(learner, models)
    expected = seed(db, list(range(1, 13)), 12)
    where = queries_line(learner)
    with Session(captured_engine) as session:
        users = call(users_with_documents, session, models)
        for user in users:
            got = sorted(d.id for d in user.documents)
            want = sorted(expected.get(user.id, []))
            if got != want:
                fail(
                    f"user {user.id}'s .documents holds {got or '[]'} after users_with_documents(); that user "
                    f"owns {want or 'no documents'}. Load the relationship itself — {FIX} — rather than "
                    f"joining or filtering the documents by hand ({where})"
                )
        if {user.id for user in users} != set(expected):
            fail(f"users_with_documents() must return every user; it returned {ids_line(sorted(u.id for u in users))}")


def measure(users_with_documents, captured_engine, models, sql):
    """Call in a fresh session, then touch every user's documents. Returns (log, statements during
    call, users returned, users that came back expired — by a commit() or expire_all() after loading)."""
    with Session(captured_engine) as session:
        with sql.capture() as log:
            users = call(users_with_documents, session, models)
            during = len(log)
            expired = sum(1 for user in users if inspect(user).expired_attributes)
            for user in users:
                len(user.documents)
        return log, during, len(users), expired


def selects(statements) -> list:
    return [s for s in statements if s.shape.kind == "SELECT"]


@check("no-n-plus-one", "no lazy loads after the call; the same SELECT count (at most 2) for 3 and 30 users")
def no_n_plus_one(learner, models, tables, db, captured_engine, users_with_documents, sql):
    documents_side(learner, models)
    seed(db, [1, 2, 3], 3)
    small, small_during, small_users, _ = measure(users_with_documents, captured_engine, models, sql)
    # 27 more users: 30 in all, in shuffled order
    seed(db, list(range(4, 31)), 31)
    large, large_during, large_users, expired = measure(users_with_documents, captured_engine, models, sql)  # shown on failure

    n_small, n_large = len(selects(small)), len(selects(large))
    if n_small == n_large and n_large <= 2:
        return

    where = queries_line(learner)
    in_call = selects(large[:large_during])
    after = selects(large[large_during:])
    if in_call and in_call[0].location:
        where = in_call[0].location  # the line that runs the query
    lazy = [s for s in selects(large) if s.lazy_load]
    attribute = lazy[0].lazy_load if lazy else "User.documents"
    if lazy:  # both runs: the report lists every statement of the check
        lazy_loads = [s for s in selects(small) + selects(large) if s.lazy_load]
        sql.flag(lazy_loads, f"lazy load of {attribute} — one per user (N+1)")
    else:
        sql.flag(selects(small)[2:] + selects(large)[2:], "extra SELECT")
    counts = (
        f"In all: {n_small} SELECT{'s' if n_small != 1 else ''} for {small_users} users, "
        f"{n_large} for {large_users} users"
    )

    if after and expired:
        eager = [s for s in in_call if s.shape.touches("documents")]
        fail(
            f"users_with_documents() returned {expired} of its {large_users} users expired: "
            + ("it did load their documents (marked below), but " if eager else "")
            + "something after the query — session.commit() or expire_all() — expired every loaded object, "
            f"so touching user.documents afterwards sent {len(after)} more SELECTs, reloading user by user: "
            "the N+1 problem again. A commit expires what the session holds (expire_on_commit); a function that only "
            f"reads has nothing to commit: remove the commit ({where})"
        )
    if after:
        hint = ""
        first = in_call[0].shape if in_call else None
        if first is not None and first.has_join:
            hint = (
                " A JOIN in your query only shapes the rows it returns; it does not fill user.documents. "
                "Eager loading is asked for with a loader option."
            )
        elif calls(learner.source("queries.py"), "options"):
            hint = (
                " Your code does call .options(...): statements are immutable, so .options() returns a *new* "
                "statement — assign it (`stmt = stmt.options(...)`) or chain it into the select."
            )
        fail(
            f"users_with_documents() returned the users without their documents: touching user.documents "
            f"afterwards sent {len(after)} more SELECT{'s' if len(after) != 1 else ''}, one lazy load per "
            f"user (marked below) — the N+1 problem. {counts} — the count grows with the data.{hint} Load the "
            f"documents up front, in the query: `{FIX}` ({where})"
        )
    if lazy:
        origin = lazy[0].location or where
        fail(
            f"users_with_documents() itself sent {len(in_call)} SELECTs for {large_users} users: one for "
            f"the users, then one lazy load of {attribute} per user ({origin}) — still the N+1 problem, "
            f"just moved inside the function. {counts}. Touching the collections in a loop loads them one "
            f"user at a time; ask for all of them in one go: `{FIX}` ({where})"
        )
    if n_small != n_large:
        fail(
            f"the number of SELECTs grows with the number of users. {counts}. Eager loading costs a fixed "
            f"number of queries, whatever the data: `{FIX}` ({where})"
        )
    fail(
        f"users_with_documents() and the reads of user.documents sent {n_large} SELECTs (marked below); at "
        f"most 2 are needed — one for the users, one for all their documents: `{FIX}` ({where})"
    )
