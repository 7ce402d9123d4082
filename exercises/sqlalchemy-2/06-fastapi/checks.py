"""Checks for 06-fastapi: a generator dependency that hands each request its own session and
always closes it, and two routes that round-trip documents through Postgres.

The learner's app is driven in-process with FastAPI's ``TestClient``. The grader creates the
tables and user 1 through its own engine (not captured); the learner's routes run on the
provided ``db.engine``, whose pool tells us whether every session gave its connection back.
"""

import asyncio
import gc
import inspect
import warnings
from datetime import datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from checker.authoring import check, fail, fix_or_hint, fixture
from checker.authoring.shared import close_not_called, first_order_by, learner_engine, ordering_mistake

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # some Starlette versions warn about httpx on import
    from fastapi import Depends, FastAPI, HTTPException
    from fastapi.exceptions import ResponseValidationError
    from fastapi.routing import APIRoute
    from fastapi.testclient import TestClient

FIX_GET_DB = "db = SessionLocal()` then `try: yield db` / `finally: db.close()"
HERE = Path(__file__).parent

# Documents the grader writes itself, with created_at values whose order is neither the id order
# nor its reverse: only ORDER BY created_at DESC gives NEWEST_FIRST.
# Inserted in this order, which is neither the order of the ids, nor of the dates, nor of the
# titles (either way round): a query without ORDER BY, or ordered by another column, shows as such.
SEEDED = [
    # id, title, created_at
    (31, "Old memo", datetime(2024, 1, 15, 9, 0)),
    (12, "Summer plan", datetime(2024, 6, 30, 9, 0)),
    (58, "Release checklist", datetime(2024, 5, 1, 9, 0)),
    (7, "Meeting notes", datetime(2024, 3, 1, 9, 0)),
]
SEQUENCE_START = 730
"""Documents POSTed get ids from here: never the row count."""
NEWEST_FIRST = [d[0] for d in sorted(SEEDED, key=lambda d: d[2], reverse=True)]
OLDEST_FIRST = list(reversed(NEWEST_FIRST))
FRAMEWORK_PATHS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


# --------------------------------------------------------------------------- fixtures


@fixture
def engine(learner):
    """The provided db.engine: the learner's sessions check connections out of its pool."""
    engine = learner_engine(learner, "", provided=True)
    engine.dispose()  # start each check with an empty pool (the schema was recreated)
    return engine


@fixture
def app(learner):
    app = learner.require("main", "app", "app = FastAPI()")
    if not isinstance(app, FastAPI):
        fail(f"main.app must be a FastAPI application (app = FastAPI()), not a {type(app).__name__}")
    return app


@fixture
def get_db(learner):
    return learner.require("deps", "get_db", "a generator: yield a session from SessionLocal, close it in finally")


@fixture
def seeded(learner, db):
    """The tables (from the provided models) and user 1, who owns every document."""
    learner.models.Base.metadata.create_all(db)
    with db.begin() as conn:
        conn.execute(text("INSERT INTO users (id, email, name) VALUES (1, 'owner@docchat.dev', 'Owner')"))
        conn.execute(text("SELECT setval(pg_get_serial_sequence('users', 'id'), 1)"))
        conn.execute(text(f"SELECT setval(pg_get_serial_sequence('documents', 'id'), {SEQUENCE_START})"))


@fixture
def client(app, seeded):
    """A TestClient that lets the learner's exceptions through (they are shown with their traceback)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield TestClient(app)


# --------------------------------------------------------------------------- helpers


def yielding(call) -> bool:
    """Whether FastAPI runs ``call`` as a dependency with cleanup after the request, as it decides:
    a generator function or an async one, a functools.partial of one, or an instance whose
    ``__call__`` is one (a class itself is called to build an instance: no cleanup)."""
    import functools

    while isinstance(call, functools.partial):
        call = call.func
    if inspect.isclass(call):
        return False
    if inspect.isgeneratorfunction(call) or inspect.isasyncgenfunction(call):
        return True
    dunder = getattr(type(call), "__call__", None) if not inspect.isfunction(call) else None
    return dunder is not None and (inspect.isgeneratorfunction(dunder) or inspect.isasyncgenfunction(dunder))


def source_of(call):
    """The function whose source a dependency is: itself, or its class's ``__call__``."""
    import functools

    while isinstance(call, functools.partial):
        call = call.func
    if inspect.isfunction(call) or inspect.ismethod(call) or inspect.isclass(call):
        return call
    return getattr(type(call), "__call__", call)


def where_function(function, learner) -> str:
    """``main.py:23`` — where a learner function is defined (a callable instance: its ``__call__``)."""
    function = source_of(function)
    try:
        filename = Path(inspect.getsourcefile(function)).resolve()
        line = inspect.getsourcelines(function)[1]
        return f"{filename.relative_to(learner.dir.resolve())}:{line}"
    except (TypeError, OSError, ValueError):
        return "main.py"


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


# --------------------------------------------------------------------------- checks


@check("get-db-generator", "get_db is a generator dependency: yields a session, closes it, and the routes use it")
def get_db_generator(learner, get_db, engine, app):
    require_generator(get_db, learner)
    where = where_function(get_db, learner)
    before = engine.pool.checkedout()
    driven = Driven(get_db)
    session = yielded_session(driven, learner, engine)
    session.execute(text("SELECT 1"))  # the session now holds a pooled connection
    if not driven.finish():
        driven.close()
        fail(f"get_db yielded a second time ({where}); a dependency yields exactly once: the session")
    left = engine.pool.checkedout() - before
    if left > 0:
        session.close()
        fail(close_not_called(learner, "deps.py") or (
            "when get_db resumed after the yield (FastAPI does that once the response is ready), the session "
            f"kept its connection: the code after `yield` must close it ({where}). Use `{FIX_GET_DB}`"
        ))
    for method in ("POST", "GET"):
        route = find_route(app, method, "/documents")
        if route is not None and not depends_on(route.dependant, get_db):
            fail(
                f"{method} /documents does not ask for get_db ({where_function(route.endpoint, learner)}): "
                "declare the session as a parameter, `db: Session = Depends(get_db)`, instead of opening one "
                "inside the route. Then there is one place that manages the session's lifecycle, and tests "
                "can swap it with app.dependency_overrides[get_db]"
            )


@check("session-per-request", "every request gets its own session")
def session_per_request(learner, get_db, engine):
    require_generator(get_db, learner)
    first, second = Driven(get_db), Driven(get_db)
    one = yielded_session(first, learner, engine)
    two = yielded_session(second, learner, engine)
    try:
        if one is two:
            fail(
                "two overlapping calls of get_db (two requests served at the same time) yielded the same Session "
                f"object ({where_function(get_db, learner)}). A Session is not thread-safe, and one request's "
                "commit, rollback or close would hit the other's work. Create it inside get_db: "
                f"`{FIX_GET_DB}` — not once at module level"
            )
    finally:
        for driven in (first, second):
            try:
                driven.close()
            except Exception:
                pass
        one.close()
        two.close()


@check("post-creates-document", "POST /documents commits a document owned by user 1 and returns it with its id")
def post_creates_document(learner, app, client, db):
    data = post_document(client, app, learner, "Onboarding guide", "Welcome to DocChat")
    where = route_where(app, "POST", learner)
    with db.connect() as conn:
        row = conn.execute(
            text("SELECT id, title, body, owner_id, created_at FROM documents WHERE id = :id"), {"id": data["id"]}
        ).first()
        count = conn.execute(text("SELECT count(*) FROM documents")).scalar_one()
        stored = conn.execute(text("SELECT id FROM documents WHERE title = 'Onboarding guide'")).scalars().all()
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
    if row.owner_id != 1:
        fail(f"the new document belongs to user {row.owner_id}; DocChat's documents belong to user 1 ({where})")
    if count != 1:
        fail(f"one POST /documents stored {count} rows in documents; one request, one document ({where})")


@check("post-then-get", "documents POSTed come back from GET /documents")
def post_then_get(learner, app, client):
    posted = [
        post_document(client, app, learner, title, body)
        for title, body in (("Onboarding guide", "Welcome!"), ("Refund policy", "30 days."), ("Roadmap", "Q3"))
    ]
    listed = get_documents(client, app, learner)
    where = route_where(app, "GET", learner)
    by_id = {item["id"]: item for item in listed}
    for doc in posted:
        item = by_id.get(doc["id"])
        if item is None:
            fail(
                f"GET /documents returned ids {[i['id'] for i in listed]} after three POSTs that created ids "
                f"{[d['id'] for d in posted]}: document {doc['id']} ({doc['title']!r}) is missing ({where})"
            )
        if item.get("title") != doc["title"] or item.get("body") != doc["body"]:
            fail(
                f"GET /documents lists document {doc['id']} as title={item.get('title')!r}, "
                f"body={item.get('body')!r}; it was created as {doc['title']!r}, {doc['body']!r} ({where})"
            )
    if len(listed) != len(posted):
        fail(f"GET /documents returned {len(listed)} documents; the database holds {len(posted)} ({where})")


@check("get-newest-first", "GET /documents lists newest first, by created_at")
def get_newest_first(learner, app, client, db, sql):
    with db.begin() as conn:
        for doc_id, title, created_at in SEEDED:
            conn.execute(
                text(
                    "INSERT INTO documents (id, title, body, owner_id, created_at) "
                    "VALUES (:id, :title, 'text', 1, :created_at)"
                ),
                {"id": doc_id, "title": title, "created_at": created_at},
            )
    with sql.capture() as log:
        listed = [item["id"] for item in get_documents(client, app, learner)]
    if listed == NEWEST_FIRST:
        return
    where = route_where(app, "GET", learner)
    when = {d[0]: d[2] for d in SEEDED}
    shown = ", ".join(f"{i} ({when[i]:%Y-%m-%d})" if i in when else str(i) for i in listed)
    expected = ", ".join(f"{i} ({when[i]:%Y-%m-%d})" for i in NEWEST_FIRST)
    if sorted(listed) != sorted(NEWEST_FIRST):
        fail(f"the database holds documents {sorted(NEWEST_FIRST)}, but GET /documents returned {listed} ({where})")
    ordering = first_order_by(log, "documents")
    sql.flag([s for s in log.selects if s.shape.touches("documents")][:1], "the documents query")
    fix = "sort newest first: .order_by(Document.created_at.desc())"
    if ordering is None and listed == OLDEST_FIRST:
        diagnosis = f"That is oldest first: {fix}"
    else:
        diagnosis = ordering_mistake(ordering, "created_at", True, fix)
    fail(f"GET /documents returned {shown}; newest first is {expected}. {diagnosis} ({where})")


@check("no-connection-leaks", "30 requests later, every session was closed (no pooled connection left checked out)")
def no_connection_leaks(learner, app, client, engine, get_db):
    where = where_function(get_db, learner)
    gc.collect()
    gc.disable()  # an unclosed Session sits in reference cycles: don't let the collector tidy up after it
    try:
        before = engine.pool.checkedout()
        for number in range(1, 31):
            if number % 2:
                call = "POST /documents"
                post_document(client, app, learner, f"Note {number}", "text")
            else:
                call = "GET /documents"
                get_documents(client, app, learner)
            left = engine.pool.checkedout() - before
            if left > 0:
                fail(close_not_called(learner, "deps.py") or (
                    f"after request {number} ({call}) returned, {left} connection(s) were still checked out of "
                    f"db.engine's pool: the request's session was never closed ({where}). The pool holds 15 "
                    "connections; after 15 such requests the next one waits 30 s and fails. FastAPI runs the "
                    "code after `yield` when the request is over, so close the session there: "
                    f"`{FIX_GET_DB}`"
                ))
    finally:
        gc.enable()


def boom_route(app, get_db, raising, path: str, reached: list):
    """A route added to the learner's app for this check: it uses the session, then raises."""

    def grader_boom(db: Session = Depends(get_db)):
        reached.append(db)
        db.execute(text("SELECT 1"))  # check a connection out of the pool
        raise raising

    app.add_api_route(path, grader_boom, methods=["GET"])
    return next(route for route in reversed(app.router.routes) if getattr(route, "path", None) == path)


@check("closed-when-route-raises", "the session is closed even when the route raises")
def closed_when_route_raises(learner, app, engine, get_db, seeded):
    require_generator(get_db, learner)
    where = where_function(get_db, learner)
    cases = [
        (RuntimeError("the grader's route failed on purpose"), "crashes (an unhandled RuntimeError, answered 500)"),
        (HTTPException(status_code=404, detail="not found"), "raises HTTPException(404), like a missing document"),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client = TestClient(app, raise_server_exceptions=False)
    gc.collect()
    gc.disable()
    try:
        for number, (raising, what) in enumerate(cases, 1):
            path = f"/__grader__/boom/{number}"
            reached = []
            route = boom_route(app, get_db, raising, path, reached)
            try:
                before = engine.pool.checkedout()
                response = client.get(path)
                left = engine.pool.checkedout() - before
            finally:
                app.router.routes.remove(route)
            if not reached:
                fail(
                    f"a route depending on get_db never ran: requesting it answered {response.status_code} "
                    f"({response.text[:200]}). get_db must yield a session ({where})"
                )
            if response.status_code < 400:
                fail(f"a route that raised answered {response.status_code}; get_db must not swallow exceptions ({where})")
            if left > 0:
                fail(close_not_called(learner, "deps.py") or (
                    f"the grader added a route to your app that depends on get_db, runs a query, then {what}. "
                    f"Afterwards {left} connection(s) were still checked out: the session was not closed "
                    f"({where}). When the route raises, FastAPI re-raises the exception *at the yield* in get_db, "
                    "so code written after the yield never runs. Put db.close() in a finally block: "
                    f"`{FIX_GET_DB}` (or `with SessionLocal() as db: yield db`)"
                ))
    finally:
        gc.enable()
