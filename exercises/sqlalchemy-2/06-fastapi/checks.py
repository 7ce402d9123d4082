"""Checks for 06-fastapi: a generator dependency that hands each request its own session and
always closes it, and two routes that round-trip documents through Postgres.

Judged apart from the learner's code (docs/authoring.md, "Acts and checks"): the acts below run
beside it, in the learner's process, drive the learner's app with FastAPI's ``TestClient`` and
return plain data; the checks run in the judge. The judge creates user 1, moves the documents'
id sequence to a place drawn for this run, draws the titles it POSTs and the documents (ids,
titles, creation times) it writes itself, reads the rows the routes left through its own
connection, reads the ORDER BY from the SQL Postgres received, and sees a session left open as
a backend "idle in transaction" in ``pg_stat_activity``, with the statement the judge asked the
session to send. Only session-per-request is testimony: whether two overlapping calls of get_db
yield the same Python object is something only the learner's process can see.
"""

import asyncio
import gc
import inspect
import random
import secrets
import warnings
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import text
from sqlalchemy.orm import Session

from checker.authoring import act, check, fail, fix_or_hint, fixture
from checker.authoring.shared import (
    close_not_called,
    count,
    first_order_by,
    held_pool,
    learner_engine,
    open_transactions,
    ordering_mistake,
    shaped,
    where_function,
    yielding,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # some Starlette versions warn about httpx on import
    from fastapi import Depends, FastAPI, HTTPException
    from fastapi.exceptions import ResponseValidationError
    from fastapi.routing import APIRoute
    from fastapi.testclient import TestClient

FIX_GET_DB = "db = SessionLocal()` then `try: yield db` / `finally: db.close()"
HERE = Path(__file__).parent
RANDOM = random.SystemRandom()
FRAMEWORK_PATHS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
WORDS = (
    "Onboarding", "Refund", "Roadmap", "Meeting", "Release", "Summer", "Budget", "Incident", "Hiring", "Pricing",
    "Security", "Launch", "Vendor", "Support", "Travel", "Quarterly", "Design", "Privacy", "Backup", "Training",
)
NOUNS = ("guide", "policy", "notes", "plan", "checklist", "memo", "review", "draft", "summary", "report")


def drawn_title() -> str:
    """A title drawn for this run: no file holds the graded inputs."""
    return f"{RANDOM.choice(WORDS)} {RANDOM.choice(NOUNS)} {RANDOM.randrange(100, 10_000)}"


def drawn_documents(count: int) -> list[tuple[int, str, datetime]]:
    """``count`` documents (id, title, created_at) drawn for this run, in the order they are
    inserted: an order that is neither that of the ids, nor of the dates, nor of the titles
    (either way round), so a query without ORDER BY, or ordered by another column, shows as such."""
    while True:
        ids = RANDOM.sample(range(1, 700), count)
        titles = [drawn_title() for _ in range(count)]
        start = datetime(2024, 1, 1, 9, 0)
        dates = [start + timedelta(days=d, minutes=RANDOM.randrange(600)) for d in RANDOM.sample(range(360), count)]
        rows = list(zip(ids, titles, dates, strict=False))
        orders = [sorted(rows, key=lambda r, k=k: r[k]) for k in range(3)]
        if all(rows != o and rows != o[::-1] for o in orders) and orders[0] != orders[2] and orders[0] != orders[2][::-1]:
            return rows


# --------------------------------------------------------------------------- helpers


def api_routes(routes, prefix: str = ""):
    """(full path, APIRoute) for every route, also those of included APIRouters."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
        elif getattr(route, "original_router", None) is not None:  # newer FastAPI: a lazily included router
            context = getattr(route, "include_context", None)
            yield from api_routes(route.original_router.routes, prefix + (getattr(context, "prefix", "") or ""))


def find_route(app, method: str, path: str):
    for full_path, route in api_routes(app.routes):
        if full_path.rstrip("/") == path and method in route.methods:
            return route
    return None


def app_routes(app) -> str:
    found = [
        f"{'/'.join(sorted(route.methods))} {full_path}"
        for full_path, route in api_routes(app.routes)
        if full_path not in FRAMEWORK_PATHS
    ]
    return ", ".join(found) or "none"


def route_where(app, method: str, learner) -> str:
    route = find_route(app, method, "/documents")
    return where_function(route.endpoint, learner) if route is not None else "main.py"


def explain_status(response, call: str, app) -> None:
    """Fail with a useful message when ``response`` is not a success."""
    status = response.status_code
    if status < 300:
        return
    try:
        detail = response.json()
    except ValueError:
        detail = response.text[:300]
    if status == 404:
        fail(
            f"{call} answered 404 Not Found: the app has no such route (its routes: {app_routes(app)}). "
            "Declare it with @app.post(\"/documents\") / @app.get(\"/documents\") in main.py"
        )
    if status == 405:
        fail(
            f"{call} answered 405 Method Not Allowed: /documents exists but not for this method "
            f"(the app's routes: {app_routes(app)})"
        )
    if status == 422:
        fail(
            f"{call} was rejected by FastAPI with 422 Unprocessable Entity: {detail}. title and body come "
            "from the query string, so declare them as plain parameters: "
            "def create_document(title: str, body: str, db: Session = Depends(get_db))"
        )
    fail(f"{call} answered {status}: {detail}")


def send(client, method: str, call: str, app, learner, **params):
    """The response to ``call``; a return value FastAPI cannot turn into the route's response_model
    is the learner's mistake, said as such (TestClient raises it as ResponseValidationError)."""
    try:
        return getattr(client, method)("/documents", **params)
    except ResponseValidationError as error:
        problem = (error.errors() or [{}])[0]
        got = problem.get("input")
        fail(
            f"{call}: the route returned {got!r:.100} ({type(got).__name__}), which FastAPI cannot turn into "
            f"its response_model ({problem.get('msg', 'invalid')}). Return the Document object itself "
            f"(or, for GET, the list of them) ({route_where(app, method.upper(), learner)})"
        )


def post_document(client, app, learner, title: str, body: str) -> dict:
    """POST /documents?title=..&body=..; the JSON object it returns (validated)."""
    call = f"POST /documents?title={title}&body={body}"
    response = send(client, "post", call, app, learner, params={"title": title, "body": body})
    explain_status(response, call, app)
    where = route_where(app, "POST", learner)
    try:
        data = response.json()
    except ValueError:
        fail(f"{call} did not return JSON: {response.text[:200]!r} ({where})")
    if not isinstance(data, dict):
        fail(f"{call} returned {data!r:.200}; it must return the created document as a JSON object ({where})")
    if data == {}:
        fail(
            f"{call} returned {{}} — an empty object. After db.commit() every attribute of the document is "
            "expired, and without a response_model FastAPI's encoder only sees attributes that are loaded: "
            "none. Call db.refresh(doc) after db.commit() (it reloads id and created_at while the session is "
            f"open), or declare a response_model with from_attributes=True ({where})"
        )
    new_id = data.get("id")
    if isinstance(new_id, bool) or not isinstance(new_id, int):
        keys = ", ".join(sorted(data)) or "none"
        fail(
            f"{call} returned {data!r:.200}: no integer \"id\" (its keys: {keys}). Return the document "
            f"after db.commit() and db.refresh(doc), so that the id Postgres gave it is loaded ({where})"
        )
    if data.get("title") != title or data.get("body") != body:
        fail(
            f"{call} returned title={data.get('title')!r}, body={data.get('body')!r}; expected the values "
            f"it was sent ({where})"
        )
    return data


def get_documents(client, app, learner) -> list[dict]:
    response = send(client, "get", "GET /documents", app, learner)
    explain_status(response, "GET /documents", app)
    where = route_where(app, "GET", learner)
    try:
        data = response.json()
    except ValueError:
        fail(f"GET /documents did not return JSON: {response.text[:200]!r} ({where})")
    if not isinstance(data, list):
        fail(f"GET /documents returned {data!r:.200}; it must return a JSON list of documents ({where})")
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("id"), int):
            fail(
                f"GET /documents returned a list holding {item!r:.120}; each entry must be a document "
                f"object with its \"id\", \"title\" and \"body\" ({where})"
            )
    return data


class Driven:
    """Run the learner's get_db by hand, the way FastAPI does: start it, later finish or throw into it."""

    def __init__(self, get_db):
        self.generator = get_db()
        self.is_async = inspect.isasyncgen(self.generator)
        self.loop = asyncio.new_event_loop() if self.is_async else None

    def start(self):
        if self.is_async:
            return self.loop.run_until_complete(self.generator.__anext__())
        return next(self.generator)

    def finish(self) -> bool:
        """Resume after the yield; True if the generator then ended (yielded only once)."""
        try:
            if self.is_async:
                self.loop.run_until_complete(self.generator.__anext__())
            else:
                next(self.generator)
        except (StopIteration, StopAsyncIteration):
            return True
        return False

    def close(self) -> None:
        try:
            if self.is_async:
                self.loop.run_until_complete(self.generator.aclose())
            else:
                self.generator.close()
        finally:
            if self.loop is not None:
                self.loop.close()


def require_generator(get_db, learner) -> None:
    """get_db must be a dependency that yields, in any form FastAPI accepts (a generator function, an
    async one, an instance whose __call__ is one): only those get cleanup after the request."""
    where = where_function(get_db, learner)
    if yielding(get_db):
        return
    if inspect.isclass(get_db):
        fail(
            f"get_db is a class ({where}): FastAPI calls a class to build an instance and injects that, so "
            "nothing ever runs after the request to close a session. Give the class a `__call__` that yields "
            "the session and closes it in finally, and make get_db an instance of it (or write a generator "
            "function)"
        )
    wrapped = getattr(get_db, "__wrapped__", None)
    if wrapped is not None and inspect.isgeneratorfunction(wrapped):
        fail(
            f"get_db is decorated (e.g. with @contextmanager) ({where}). FastAPI wants the plain generator "
            "function: remove the decorator, and FastAPI itself runs the code after the yield when the "
            "request is over"
        )
    if not callable(get_db):
        fail(f"deps.get_db must be a function, not a {type(get_db).__name__}")
    fail(
        f"get_db is an ordinary function, not a generator ({where}): it has no `yield`. FastAPI runs cleanup "
        "code only for dependencies that yield; a function that *returns* its session gives it no moment to "
        "close it, and every request leaks one pooled connection. "
        + fix_or_hint(learner, HERE, f"Write it as a generator: `{FIX_GET_DB}`")
    )


def yielded_session(driven, learner, engine):
    where = where_function(learner.deps.get_db, learner)
    session = driven.start()
    if not isinstance(session, Session):
        driven.close()
        fail(
            f"get_db yielded {session!r:.80} ({type(session).__name__}); it must yield a SQLAlchemy Session, "
            f"made by SessionLocal() ({where})"
        )
    try:
        bind = session.get_bind()
    except Exception:
        bind = None
    if bind is not engine:
        session.close()
        driven.close()
        fail(
            f"the session from get_db is not bound to db.engine ({where}): open it with SessionLocal() from "
            "db.py, the factory bound to the app's engine"
        )
    return session


def depends_on(dependant, target) -> bool:
    return any(dep.call is target or depends_on(dep, target) for dep in dependant.dependencies)


# --------------------------------------------------------------------------- acts: in the learner's process


def _app(ctx):
    app = ctx.learner.require("main", "app", "app = FastAPI()")
    if not isinstance(app, FastAPI):
        fail(f"main.app must be a FastAPI application (app = FastAPI()), not a {type(app).__name__}")
    return app


def _get_db(ctx):
    return ctx.learner.require("deps", "get_db", "a generator: yield a session from SessionLocal, close it in finally")


def _engine(ctx):
    """The provided db.engine: the learner's sessions check connections out of its pool."""
    return learner_engine(ctx.learner, "", provided=True)


def _client(ctx):
    """A TestClient on the learner's app, one per check, that lets the learner's exceptions
    through (they are shown with their traceback)."""
    app = _app(ctx)
    if "client" not in ctx.state:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ctx.state["client"] = TestClient(app)
    return ctx.state["client"], app


def _hold(ctx, *objects) -> None:
    """Keep ``objects`` alive until the check ends: an unclosed session stays checked out, so the
    judge sees its backend still inside a transaction."""
    ctx.state.setdefault("held", []).extend(objects)


@act
def fresh_pool(ctx) -> None:
    """Start the check with db.engine's pool empty (the schema was recreated) and the collector off:
    an unclosed Session sits in reference cycles, and the collector would tidy up after it."""
    gc.collect()  # sessions a previous check left unclosed give their connections back first
    _engine(ctx).dispose()
    gc.disable()


@act
def create_tables(ctx) -> None:
    ctx.learner.models.Base.metadata.create_all(ctx.engine)


@act
def release(ctx) -> None:
    """The check is over: let go of what it held and turn the collector back on."""
    ctx.state.pop("held", None)
    gc.enable()
    gc.collect()


@act
def probe_get_db(ctx, marker: str) -> dict:
    """Run get_db by hand, as FastAPI does: the session it yields sends the judge's marker
    statement, then get_db resumes. What stayed checked out, and which routes ask for get_db."""
    learner = ctx.learner
    get_db = _get_db(ctx)
    require_generator(get_db, learner)
    engine = _engine(ctx)
    before = engine.pool.checkedout()
    driven = Driven(get_db)
    session = yielded_session(driven, learner, engine)
    _hold(ctx, session, driven)
    session.execute(text(f"SELECT '{marker}' AS grader_marker"))  # the session now holds a pooled connection
    second = not driven.finish()
    if second:
        driven.close()
    app = _app(ctx)
    bypass = []
    for method in ("POST", "GET"):
        route = find_route(app, method, "/documents")
        if route is not None and not depends_on(route.dependant, get_db):
            bypass.append([method, where_function(route.endpoint, learner)])
    return {
        "where": where_function(get_db, learner),
        "second": second,
        "left": engine.pool.checkedout() - before,
        "bypass": bypass,
    }


@act
def overlapping_sessions(ctx) -> dict:
    """Two overlapping calls of get_db (two requests at the same time): the same Session or not."""
    learner = ctx.learner
    get_db = _get_db(ctx)
    require_generator(get_db, learner)
    engine = _engine(ctx)
    first, second = Driven(get_db), Driven(get_db)
    one = yielded_session(first, learner, engine)
    two = yielded_session(second, learner, engine)
    try:
        return {"same": one is two, "where": where_function(get_db, learner)}
    finally:
        for driven in (first, second):
            try:
                driven.close()
            except Exception:
                pass
        one.close()
        two.close()


@act
def post(ctx, title: str, body: str) -> dict:
    """POST /documents?title=..&body=..: the JSON object it returned (its shape checked here, with
    the teaching messages), and where the route is."""
    client, app = _client(ctx)
    data = post_document(client, app, ctx.learner, title, body)
    return {"data": data, "where": route_where(app, "POST", ctx.learner)}


@act
def listing(ctx) -> dict:
    """GET /documents: the ids, titles and bodies it listed, in its order."""
    client, app = _client(ctx)
    listed = get_documents(client, app, ctx.learner)
    return {
        "items": [{"id": i["id"], "title": i.get("title"), "body": i.get("body")} for i in listed],
        "where": route_where(app, "GET", ctx.learner),
    }


@act
def requests_in_turn(ctx, titles: list[str]) -> dict:
    """A POST for each title and a GET after each, stopping at the first request after which a
    connection is still checked out of db.engine's pool."""
    client, app = _client(ctx)
    engine = _engine(ctx)
    before = engine.pool.checkedout()
    number = 0
    for title in titles:
        for call in ("POST /documents", "GET /documents"):
            number += 1
            if call.startswith("POST"):
                post_document(client, app, ctx.learner, title, "text")
            else:
                get_documents(client, app, ctx.learner)
            left = engine.pool.checkedout() - before
            if left > 0:
                return {"number": number, "call": call, "left": left, "where": where_function(_get_db(ctx), ctx.learner)}
    return {"number": number, "call": "", "left": 0, "where": where_function(_get_db(ctx), ctx.learner)}


def boom_route(app, get_db, raising, path: str, reached: list, marker: str):
    """A route added to the learner's app for this check: it uses the session, then raises."""

    def grader_boom(db: Session = Depends(get_db)):  # noqa: B008 (FastAPI's way to declare a dependency)
        reached.append(db)
        db.execute(text(f"SELECT '{marker}' AS grader_marker"))  # check a connection out of the pool
        raise raising

    app.add_api_route(path, grader_boom, methods=["GET"])
    return next(route for route in reversed(app.router.routes) if getattr(route, "path", None) == path)


@act
def route_raises(ctx, number: int, marker: str) -> dict:
    """A route the judge adds to the learner's app (it uses get_db's session, sends the marker,
    then raises: case 1 a crash, case 2 HTTPException(404)); what it answered, what stayed out."""
    learner = ctx.learner
    get_db = _get_db(ctx)
    require_generator(get_db, learner)
    app = _app(ctx)
    engine = _engine(ctx)
    raising = (
        RuntimeError("the grader's route failed on purpose")
        if number == 1
        else HTTPException(status_code=404, detail="not found")
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client = TestClient(app, raise_server_exceptions=False)
    path = f"/__grader__/boom/{number}"
    reached: list = []
    route = boom_route(app, get_db, raising, path, reached, marker)
    try:
        before = engine.pool.checkedout()
        response = client.get(path)
        left = engine.pool.checkedout() - before
    finally:
        app.router.routes.remove(route)
    _hold(ctx, *reached)
    return {
        "reached": bool(reached),
        "status": response.status_code,
        "text": response.text[:200],
        "left": left,
        "where": where_function(get_db, learner),
    }


# --------------------------------------------------------------------------- fixtures and checks: in the judge


def received(log, marker: str) -> bool:
    return any(marker in statement.sql for statement in log)


def new_marker() -> str:
    return "grader-" + secrets.token_hex(8)


@fixture
def pool(learner):
    """db.engine's pool empty at the start, the witness's collector off until the check ends."""
    yield from held_pool(learner, fresh_pool, release)


@fixture
def seeded(learner, pool, db):
    """The tables (from the provided models), user 1, who owns every document, and the documents'
    id sequence moved to a place drawn for this run: a POSTed document's id is never the row count."""
    learner.run(create_tables)
    if not {"users", "documents"} <= set(sa_inspect(db).get_table_names()):
        fail("the tables users and documents were not created from models.py: models.py is provided, restore it")
    with db.begin() as conn:
        conn.execute(text("INSERT INTO users (id, email, name) VALUES (1, 'owner@docchat.dev', 'Owner')"))
        conn.execute(text("SELECT setval(pg_get_serial_sequence('users', 'id'), 1)"))
        conn.execute(
            text("SELECT setval(pg_get_serial_sequence('documents', 'id'), :start)"), {"start": RANDOM.randrange(700, 90_000)}
        )


def not_closed(learner, message: str) -> None:
    fail(close_not_called(learner, "deps.py") or message)


def posted(learner, title: str, body: str) -> tuple[dict, str]:
    got = shaped(learner.run(post, title, body), ("data", "where"), f"POST /documents?title={title}")
    data = got["data"]
    if not isinstance(data, dict) or isinstance(data.get("id"), bool) or not isinstance(data.get("id"), int):
        fail(f"POST /documents?title={title}: no integer id in {str(data)[:200]}")
    if data.get("title") != title or data.get("body") != body:
        fail(
            f"POST /documents?title={title}&body={body} returned title={data.get('title')!r}, "
            f"body={data.get('body')!r}; expected the values it was sent ({got['where']})"
        )
    return data, str(got["where"])


def listed(learner) -> tuple[list[dict], str]:
    got = shaped(learner.run(listing), ("items", "where"), "GET /documents")
    items = got["items"]
    if not isinstance(items, list) or not all(isinstance(i, dict) and isinstance(i.get("id"), int) for i in items):
        fail(f"GET /documents: not a list of documents with ids ({str(items)[:200]})")
    return items, str(got["where"])


@check("get-db-generator", "get_db is a generator dependency: yields a session, closes it, and the routes use it")
def get_db_generator(learner, pool, db, sql):
    marker = new_marker()
    with sql.capture() as log:
        got = shaped(learner.run(probe_get_db, marker), ("where", "second", "left", "bypass"), "get_db")
    where = got["where"]
    if got["second"]:
        fail(f"get_db yielded a second time ({where}); a dependency yields exactly once: the session")
    if not received(log, marker):
        fail(
            f"the session get_db yielded was asked to run a statement, but Postgres received none from it ({where}): "
            "get_db must yield a Session from SessionLocal(), bound to db.engine"
        )
    if got["left"] or open_transactions(db, marker):
        not_closed(
            learner,
            "when get_db resumed after the yield (FastAPI does that once the response is ready), the session "
            f"kept its connection: the code after `yield` must close it ({where}). Use `{FIX_GET_DB}`",
        )
    for method, route_at in got["bypass"]:
        fail(
            f"{method} /documents does not ask for get_db ({route_at}): "
            "declare the session as a parameter, `db: Session = Depends(get_db)`, instead of opening one "
            "inside the route. Then there is one place that manages the session's lifecycle, and tests "
            "can swap it with app.dependency_overrides[get_db]"
        )


@check("session-per-request", "every request gets its own session", testimony=True)
def session_per_request(learner, pool):
    got = shaped(learner.run(overlapping_sessions), ("same", "where"), "get_db")
    if got["same"]:
        fail(
            "two overlapping calls of get_db (two requests served at the same time) yielded the same Session "
            f"object ({got['where']}). A Session is not thread-safe, and one request's "
            "commit, rollback or close would hit the other's work. Create it inside get_db: "
            f"`{FIX_GET_DB}` — not once at module level"
        )


@check("post-creates-document", "POST /documents commits a document owned by user 1 and returns it with its id")
def post_creates_document(learner, seeded, db):
    title, body = drawn_title(), f"Welcome to DocChat, {secrets.token_hex(4)}"
    data, where = posted(learner, title, body)
    with db.connect() as conn:
        row = conn.execute(
            text("SELECT id, title, body, owner_id, created_at FROM documents WHERE id = :id"), {"id": data["id"]}
        ).first()
        count = conn.execute(text("SELECT count(*) FROM documents")).scalar_one()
        stored = conn.execute(text("SELECT id FROM documents WHERE title = :title"), {"title": title}).scalars().all()
    if row is None and stored:
        fail(
            f"POST /documents returned id {data['id']}, but the document it stored has id "
            f"{', '.join(map(str, stored))}"
            + (f" ({data['id']} is the number of rows in documents, not the new row's id)" if data["id"] == count else "")
            + f": return the document itself (or its .id) after db.commit() and db.refresh(doc) ({where})"
        )
    if row is None:
        fail(
            f"POST /documents returned id {data['id']}, but another connection sees no such row in documents: "
            "it was never committed. db.flush() sends the INSERT inside a transaction that is rolled back when "
            f"the session closes; call db.commit() after db.add(doc) ({where})"
        )
    if row.title != title or row.body != body:
        fail(f"document {row.id} holds title={row.title!r}, body={row.body!r}; it was POSTed as {title!r}, {body!r} ({where})")
    if row.owner_id != 1:
        fail(f"the new document belongs to user {row.owner_id}; DocChat's documents belong to user 1 ({where})")
    if count != 1:
        fail(f"one POST /documents stored {count} rows in documents; one request, one document ({where})")


@check("post-then-get", "documents POSTed come back from GET /documents")
def post_then_get(learner, seeded, db, sql):
    sent = [(drawn_title(), f"Body {secrets.token_hex(3)}") for _ in range(3)]
    posts = [posted(learner, title, body)[0] for title, body in sent]
    with sql.capture() as log:
        items, where = listed(learner)
    with db.connect() as conn:
        stored = {row.id: (row.title, row.body) for row in conn.execute(text("SELECT id, title, body FROM documents"))}
    by_id = {item["id"]: item for item in items}
    for doc in posts:
        item = by_id.get(doc["id"])
        if item is None:
            fail(
                f"GET /documents returned ids {[i['id'] for i in items]} after three POSTs that created ids "
                f"{[d['id'] for d in posts]}: document {doc['id']} ({doc['title']!r}) is missing ({where})"
            )
        if item.get("title") != doc["title"] or item.get("body") != doc["body"]:
            fail(
                f"GET /documents lists document {doc['id']} as title={item.get('title')!r}, "
                f"body={item.get('body')!r}; it was created as {doc['title']!r}, {doc['body']!r} ({where})"
            )
    if len(items) != len(posts):
        fail(f"GET /documents returned {len(items)} documents; the database holds {len(posts)} ({where})")
    if sorted(stored) != sorted(by_id) or any(stored[i] != (by_id[i]["title"], by_id[i]["body"]) for i in stored):
        fail(f"GET /documents returned {sorted(by_id)}, but the documents table holds {sorted(stored)} ({where})")
    if not any(s.shape.kind == "SELECT" and s.shape.touches("documents") for s in log):
        fail(f"GET /documents answered without reading the documents table: Postgres received no SELECT from it ({where})")


@check("get-newest-first", "GET /documents lists newest first, by created_at")
def get_newest_first(learner, seeded, db, sql):
    documents = drawn_documents(4)
    newest_first = [d[0] for d in sorted(documents, key=lambda d: d[2], reverse=True)]
    with db.begin() as conn:
        for doc_id, title, created_at in documents:
            conn.execute(
                text(
                    "INSERT INTO documents (id, title, body, owner_id, created_at) "
                    "VALUES (:id, :title, 'text', 1, :created_at)"
                ),
                {"id": doc_id, "title": title, "created_at": created_at},
            )
    with sql.capture() as log:
        items, where = listed(learner)
    got = [item["id"] for item in items]
    reads = [s for s in log.selects if s.shape.touches("documents")]
    if got == newest_first and reads:
        return
    when = {d[0]: d[2] for d in documents}
    shown = ", ".join(f"{i} ({when[i]:%Y-%m-%d})" if i in when else str(i) for i in got)
    expected = ", ".join(f"{i} ({when[i]:%Y-%m-%d})" for i in newest_first)
    if sorted(got) != sorted(newest_first):
        fail(f"the database holds documents {sorted(newest_first)}, but GET /documents returned {got} ({where})")
    ordering = first_order_by(log, "documents")
    sql.flag(reads[:1], "the documents query")
    fix = "sort newest first: .order_by(Document.created_at.desc())"
    if ordering is None and got == newest_first[::-1]:
        diagnosis = f"That is oldest first: {fix}"
    else:
        diagnosis = ordering_mistake(ordering, "created_at", True, fix)
    fail(f"GET /documents returned {shown}; newest first is {expected}. {diagnosis} ({where})")


@check("no-connection-leaks", "30 requests later, every session was closed (no pooled connection left checked out)")
def no_connection_leaks(learner, seeded, db, sql):
    titles = [drawn_title() for _ in range(15)]
    with sql.capture() as log:
        got = shaped(learner.run(requests_in_turn, titles), ("number", "call", "left", "where"), "30 requests")
    where = got["where"]
    left = max(count(got["left"]), open_transactions(db))
    if left > 0:
        not_closed(
            learner,
            f"after request {got['number']} ({got['call'] or 'the last request'}) returned, {left} connection(s) were "
            f"still checked out of db.engine's pool: the request's session was never closed ({where}). The pool holds "
            "15 connections; after 15 such requests the next one waits 30 s and fails. FastAPI runs the "
            f"code after `yield` when the request is over, so close the session there: `{FIX_GET_DB}`",
        )
    inserts = [s for s in log if s.shape.kind == "INSERT" and s.shape.touches("documents")]
    reads = [s for s in log.selects if s.shape.touches("documents")]
    if len(inserts) < len(titles) or len(reads) < len(titles):
        fail(
            f"for the 30 requests (15 POSTs, each followed by a GET) Postgres received {len(inserts)} INSERTs into "
            f"documents and {len(reads)} SELECTs from documents: each request must go through the database ({where})"
        )


@check("closed-when-route-raises", "the session is closed even when the route raises")
def closed_when_route_raises(learner, seeded, db, sql):
    cases = {
        1: "crashes (an unhandled RuntimeError, answered 500)",
        2: "raises HTTPException(404), like a missing document",
    }
    for number, what in cases.items():
        marker = new_marker()
        with sql.capture() as log:
            got = shaped(learner.run(route_raises, number, marker), ("reached", "status", "text", "left", "where"), "get_db")
        where = got["where"]
        if not got["reached"] or not received(log, marker):
            fail(
                f"a route depending on get_db never ran: requesting it answered {got['status']} "
                f"({got['text']}). get_db must yield a session ({where})"
            )
        if not isinstance(got["status"], int) or got["status"] < 400:
            fail(f"a route that raised answered {got['status']}; get_db must not swallow exceptions ({where})")
        left = max(count(got["left"]), open_transactions(db, marker))
        if left > 0:
            not_closed(
                learner,
                f"the grader added a route to your app that depends on get_db, runs a query, then {what}. "
                f"Afterwards {left} connection(s) were still checked out: the session was not closed "
                f"({where}). When the route raises, FastAPI re-raises the exception *at the yield* in get_db, "
                "so code written after the yield never runs. Put db.close() in a finally block: "
                f"`{FIX_GET_DB}` (or `with SessionLocal() as db: yield db`)",
            )
