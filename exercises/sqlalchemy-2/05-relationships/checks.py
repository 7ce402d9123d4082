"""Checks for 05-relationships: User.documents <-> Document.owner, and loading them without the N+1.

Judged apart from the learner's code (docs/authoring.md, "Acts and checks"): the acts below run
beside it, in the learner's process, and return plain data; the checks run in the judge. The
judge seeds the data through its own connection — users with ids drawn at random for this run,
inserted in shuffled order, so a query without ORDER BY shows it and no answer can be written
from this file — and counts the SELECTs in what Postgres received (the server's statement log),
not in what the learner's process says it sent. Only back-populates-sync is testimony: the
in-memory sync before a flush is something only the learner's process can see.
"""

import random
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from checker.authoring import act, calls, check, fail, fix_or_hint, fixture, step
from checker.authoring.shared import configured_models, first_order_by, ordering_mistake, seed

FIX = "select(User).options(selectinload(User.documents))"
HERE = Path(__file__).parent
ADVICE = '. Check that each back_populates="..." names the attribute on the *other* class, and that both sides exist'
RANDOM = random.SystemRandom()


def fresh_ids(count: int) -> list[int]:
    """``count`` user ids drawn for this run, short and long ones mixed (so that sorting their
    names is not sorting their ids), each owning at least one document when ``owning``."""
    short = RANDOM.sample(range(1, 1000), count // 2)
    long = RANDOM.sample(range(1000, 99_999), count - count // 2)
    ids = short + long
    RANDOM.shuffle(ids)
    return ids


def owning(count: int) -> list[int]:
    """``count`` fresh ids of users that own documents (an id divisible by 4 owns none)."""
    ids: list[int] = []
    while len(ids) < count:
        ids = [i for i in dict.fromkeys(ids + fresh_ids(count)) if i % 4][:count]
    return ids


def seeded(db, user_ids: list[int]) -> dict[int, list[int]]:
    return seed(db, user_ids, RANDOM.randrange(1 << 30))


# --------------------------------------------------------------------------- acts: in the learner's process


def _models(ctx):
    """The learner's models, with every mapper configured (a backref only exists after this)."""
    return configured_models(ctx.learner, ADVICE)


def _function(ctx):
    function = ctx.learner.require("queries", "users_with_documents", "users_with_documents(session) -> list[User]")
    if not callable(function):
        fail("queries.users_with_documents must be a function: users_with_documents(session) -> list[User]")
    return function


@act
def create_tables(ctx) -> None:
    _models(ctx).Base.metadata.create_all(ctx.engine, checkfirst=False)  # every check starts on an empty schema


@act
def navigate(ctx, user_ids: list[int], document_ids: list[int]) -> dict:
    """Each user's ``.documents`` (ids) and each document's ``.owner`` (its id, or what it is instead)."""
    models = _models(ctx)
    both_sides(ctx.learner, models)
    documents = []
    with Session(ctx.engine) as session:
        for user_id in user_ids:
            documents.append(sorted(d.id for d in session.get(models.User, user_id).documents))
    owners: list = []
    with Session(ctx.engine) as session:
        for document_id in document_ids:
            owner = session.get(models.Document, document_id).owner
            if owner is None:
                owners.append(None)
            elif isinstance(owner, models.User):
                owners.append(owner.id)
            else:
                owners.append(repr(getattr(owner, "id", owner))[:80])
    return {"documents": documents, "owners": owners}


@act
def sync_in_memory(ctx) -> dict:
    """What the two sides of the relationship say, in memory, before any flush."""
    models = _models(ctx)
    both_sides(ctx.learner, models)
    User, Document = models.User, models.Document
    with step("building User(email=..., name=...) and Document(title=..., body=...) in memory", "models.py"):
        ada, grace = User(email="ada@example.com", name="Ada"), User(email="grace@example.com", name="Grace")
        notes, draft = Document(title="Notes", body="text"), Document(title="Draft", body="text")
    ada.documents.append(notes)
    seen = {"append_sets_owner": notes.owner is ada, "owner_after_append": "None" if notes.owner is None else repr(notes.owner)[:80]}
    draft.owner = grace
    seen["owner_sets_collection"] = draft in grace.documents
    draft.owner = ada
    seen["move_leaves_first"] = draft not in grace.documents and draft in ada.documents
    return seen


def _call(ctx, session) -> list:
    """Run the learner's function; it must return a list of User objects."""
    models = _models(ctx)
    result = _function(ctx)(session)
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


@act
def returned_ids(ctx) -> list[int]:
    """The ids of the users users_with_documents() returns, in its order."""
    with Session(ctx.engine) as session:
        return [user.id for user in _call(ctx, session)]


@act
def returned_documents(ctx) -> list:
    """``[user id, its documents' ids]`` for each user users_with_documents() returns."""
    documents_side(ctx.learner, _models(ctx))
    with Session(ctx.engine) as session:
        return [[user.id, sorted(d.id for d in user.documents)] for user in _call(ctx, session)]


@act
def call_then_touch(ctx) -> dict:
    """Call users_with_documents() in a fresh session, then touch every returned user's documents (what
    code looping over the result does): the users and their documents' ids, how many came back
    expired (a commit() or expire_all() after loading), and how many statements the call itself
    sent (a hint that splits the statements Postgres received: the verdict counts them all)."""
    documents_side(ctx.learner, _models(ctx))
    with Session(ctx.engine) as session:
        users = _call(ctx, session)
        during = len(ctx.captured)
        expired = sum(1 for user in users if inspect(user).expired_attributes)
        documents = [[user.id, sorted(d.id for d in user.documents)] for user in users]
    return {"users": len(users), "expired": expired, "during": during, "documents": documents}


# --------------------------------------------------------------------------- fixtures: in the judge


@fixture
def tables(learner):
    learner.run(create_tables)


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


# --------------------------------------------------------------------------- checks: in the judge


def read_from_database(log, table: str, what: str, where: str) -> None:
    """Outside evidence: Postgres received a SELECT of ``table`` while the acts ran (an answer made
    up without reading the data this run seeded could not be right, but say it plainly)."""
    if not any(s.shape.kind == "SELECT" and s.shape.touches(table) for s in log):
        fail(f"{what}, but Postgres received no SELECT from {table} while it ran: the data must come from the database ({where})")


@check("navigate-both-ways", "user.documents lists a user's documents; document.owner is its user")
def navigate_both_ways(learner, tables, db, sql):
    user_ids = owning(3)
    expected = seeded(db, user_ids)
    document_ids = [RANDOM.choice(expected[user_id]) for user_id in user_ids]
    with sql.capture() as log:
        got = learner.run(navigate, user_ids, document_ids)
    for user_id, documents in zip(user_ids, got["documents"], strict=True):
        if documents != sorted(expected[user_id]):
            fail(
                f"user {user_id}'s .documents holds documents {documents}; in the database that user owns "
                f"{sorted(expected[user_id])}. relationship() follows the foreign key documents.owner_id "
                f"({learner.where('User', 'documents')})"
            )
    for document_id, owner_id, owner in zip(document_ids, user_ids, got["owners"], strict=True):
        if owner != owner_id:
            shown = "None" if owner is None else f"user {owner!r}"
            fail(
                f"document {document_id}.owner is {shown}; its owner_id is {owner_id}, so .owner must be that "
                f"User ({learner.where('Document', 'owner')})"
            )
    read_from_database(log, "documents", "the documents were right", learner.where("User", "documents"))


@check("back-populates-sync", "both sides stay in sync in memory, before any flush (back_populates)", testimony=True)
def back_populates_sync(learner):
    seen = learner.run(sync_in_memory)
    if not seen["append_sets_owner"]:
        fail(
            "after `user.documents.append(doc)`, doc.owner is "
            f"{seen['owner_after_append']} instead of that user. Without "
            "back_populates the two relationships are unrelated: each is filled only by a flush and a reload, "
            "so code that builds objects in memory sees half the link. Name the other side on both: "
            'relationship(back_populates="owner") on User.documents and relationship(back_populates='
            f'"documents") on Document.owner ({learner.where("User", "documents")})'
        )
    if not seen["owner_sets_collection"]:
        fail(
            "after `doc.owner = user`, the document is not in user.documents. Both relationships must name "
            'each other: back_populates="documents" on Document.owner, back_populates="owner" on '
            f"User.documents ({learner.where('Document', 'owner')})"
        )
    if not seen["move_leaves_first"]:
        fail(
            "after moving a document to another owner (`doc.owner = other_user`), it must leave the first "
            "user's .documents and appear in the new one's; use back_populates on both sides "
            f"({learner.where('Document', 'owner')})"
        )


@check("users-ordered-by-id", "users_with_documents() returns every user, ordered by id")
def users_ordered_by_id(learner, tables, db, sql):
    user_ids = fresh_ids(30)
    seeded(db, user_ids)
    user_ids.sort()
    with sql.capture() as log:
        got = learner.run(returned_ids)
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
    read_from_database(log, "users", "users_with_documents() returned the right users", where)


@check("documents-loaded", "each user carries exactly their own documents")
def documents_loaded(learner, tables, db, sql):
    user_ids = fresh_ids(12)
    expected = seeded(db, user_ids)
    where = queries_line(learner)
    with sql.capture() as log:
        got = learner.run(returned_documents)
    for user_id, documents in got:
        want = sorted(expected.get(user_id, []))
        if documents != want:
            fail(
                f"user {user_id}'s .documents holds {documents or '[]'} after users_with_documents(); that user "
                f"owns {want or 'no documents'}. Load the relationship itself — {FIX} — rather than "
                f"joining or filtering the documents by hand ({where})"
            )
    if {user_id for user_id, _ in got} != set(expected):
        fail(f"users_with_documents() must return every user; it returned {ids_line(sorted(u for u, _ in got))}")
    read_from_database(log, "documents", "every user carried the right documents", where)


def measure(learner, sql, expected: dict[int, list[int]]):
    """Call in a fresh session, then touch every user's documents. Returns (the statements as
    Postgres received them, how many of them the call sent — the learner's process's hint, used
    for the messages only —, users returned, users that came back expired)."""
    with sql.capture() as log:
        got = learner.run(call_then_touch)
    for user_id, documents in got["documents"]:
        if documents != sorted(expected.get(user_id, [])):
            fail(
                f"user {user_id}'s .documents holds {documents or '[]'} after users_with_documents(); that user owns "
                f"{sorted(expected.get(user_id, [])) or 'no documents'}: load the relationship itself — {FIX}"
            )
    return list(log), min(int(got["during"]), len(log)), got["users"], got["expired"]


def selects(statements) -> list:
    return [s for s in statements if s.shape.kind == "SELECT"]


@check("no-n-plus-one", "no lazy loads after the call; the same SELECT count (at most 2) for 3 and 30 users")
def no_n_plus_one(learner, tables, db, sql):
    user_ids = owning(30)
    expected = seeded(db, user_ids[:3])
    small, small_during, small_users, _ = measure(learner, sql, expected)
    # 27 more users: 30 in all, in shuffled order
    expected.update(seeded(db, user_ids[3:]))
    large, large_during, large_users, expired = measure(learner, sql, expected)  # shown on failure

    n_small, n_large = len(selects(small)), len(selects(large))
    if n_small == n_large and n_large <= 2:
        if not any(s.shape.touches("documents") for s in selects(large)):
            fail(
                "users_with_documents() sent no SELECT of documents, yet the documents were there afterwards: "
                f"they must be loaded from the database, in the query: `{FIX}` ({queries_line(learner)})"
            )
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
