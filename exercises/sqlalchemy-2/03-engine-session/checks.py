"""Checks for 03-engine-session: engine from the environment, a session factory, add_user().

Judged apart from the learner's code (docs/authoring.md, "Acts and checks"): the acts below run
beside it and return plain data; the checks run in the judge, which seeds the users and moves
the id sequence to a place drawn for this run, and reads the rows add_user() left through its own
connection (evidence). What the engine's URL is, whether SessionLocal makes new sessions, the type
add_user() returns and whether its session was closed are seen only in the learner's process:
those checks are testimony.
"""

import gc
import random
from pathlib import Path

from sqlalchemy import text

from checker.authoring import act, check, fail, fix_or_hint, fixture, uncalled
from checker.authoring.shared import learner_engine, no_url_literal, session_factory, url_mismatch

HERE = Path(__file__).parent
RANDOM = random.SystemRandom()


# --------------------------------------------------------------------------- acts: in the learner's process


def _engine(ctx):
    learner = ctx.learner
    if getattr(learner.db, "engine", None) is None:
        fail(
            "db.py defines no `engine` yet (db.py): the Engine is the one object that knows where the database "
            "is and keeps a pool of connections to it, made once when the module is imported. Its URL comes "
            "from the DATABASE_URL environment variable, never from the code. "
            + fix_or_hint(learner, HERE, 'Write `engine = create_engine(os.environ["DATABASE_URL"])`')
        )
    return learner_engine(learner)


@act
def create_tables(ctx) -> None:
    ctx.learner.models.Base.metadata.create_all(ctx.engine)


@act
def engine_url(ctx) -> str | None:
    """Where db.engine points, when that is not the run's database (None when it is)."""
    return url_mismatch(_engine(ctx).url, ctx.database_url)


@act
def factory_made(ctx) -> dict:
    """Two sessions from SessionLocal(): the same object or not, bound to db.engine or not."""
    engine = _engine(ctx)
    factory = session_factory(ctx.learner)
    first, second = factory(), factory()
    try:
        return {"same": first is second, "bound": first.get_bind() is engine}
    finally:
        first.close()
        second.close()


@act
def add_user(ctx, email: str, name: str | None, required: bool = False) -> dict:
    """Call db.add_user(email, name): what it returned (its id when it is an int, else what it is)."""
    if required:
        function = ctx.learner.require("db", "add_user", "add_user(email, name=None) -> int")
    else:
        function = ctx.learner.db.add_user
    result = function(email, name)
    if isinstance(result, int) and not isinstance(result, bool):
        return {"id": result, "int": True}
    inner = getattr(result, "id", result)
    return {
        "id": inner if isinstance(inner, int) and not isinstance(inner, bool) else None,
        "int": False,
        "shown": repr(result)[:200],
        "type": type(result).__name__,
    }


@act
def connections_left(ctx) -> int:
    """Connections still checked out of db.engine's pool after add_user() returned."""
    engine = _engine(ctx)
    gc.collect()
    gc.disable()  # an unclosed Session sits in reference cycles; don't let the collector tidy up
    try:
        before = engine.pool.checkedout()
        ctx.learner.db.add_user("c@example.com", "C")
        return engine.pool.checkedout() - before
    finally:
        gc.enable()


# --------------------------------------------------------------------------- fixtures and checks: in the judge


@fixture
def tables(learner, db):
    """The learner's tables (from the provided models) before add_user runs, with three users
    already in and the id sequence moved far ahead, to a place drawn for this run: the new id is
    neither the row count nor a number a guess would hit."""
    learner.run(create_tables)
    with db.begin() as conn:
        conn.execute(
            text("INSERT INTO users (id, email, name) VALUES (:id, :email, :name)"),
            [{"id": i, "email": f"seed{i}@example.com", "name": f"Seed {i}"} for i in RANDOM.sample(range(10, 1000), 3)],
        )
        conn.execute(text("SELECT setval(pg_get_serial_sequence('users', 'id'), :start)"), {"start": RANDOM.randrange(3000, 90_000)})


@check("engine-from-env", "engine is built from DATABASE_URL, with no URL in the code", testimony=True)
def engine_from_env(learner):
    mismatch = learner.run(engine_url)
    if mismatch:
        fail(f'{mismatch}: create it with create_engine(os.environ["DATABASE_URL"])')
    no_url_literal(learner, "db.py")


@check("sessionlocal-factory", "SessionLocal makes a new Session bound to engine on each call", testimony=True)
def sessionlocal_factory(learner):
    made = learner.run(factory_made)
    if made["same"]:
        fail("SessionLocal() returned the same Session twice: it must create a new one per call (sessionmaker)")
    if not made["bound"]:
        fail("sessions from SessionLocal() are not bound to db.engine: use sessionmaker(bind=engine)")


@check("add-user-returns-id", "add_user() returns the new user's integer id", testimony=True)
def add_user_returns_id(learner, tables):
    result = learner.run(add_user, "ada@example.com", "Ada", True)
    if not result["int"]:
        fail(
            f"add_user() returned {result['shown']} ({result['type']}); it must return the new row's id, "
            "an int: `return user.id` after commit and refresh"
        )


@check("add-user-commits", "the new row is committed (visible from another connection)")
def add_user_commits(learner, tables, db):
    new_id = learner.run(add_user, "grace@example.com", None)["id"]
    with db.connect() as conn:
        row = conn.execute(text("SELECT id, email, name FROM users WHERE email = 'grace@example.com'")).first()
    if row is None:
        fail(
            "after add_user() returned, another connection sees no row in users: the INSERT was never "
            "committed. session.flush() sends it but closing the session rolls it back; call session.commit()"
        )
    if row.id != new_id:
        fail(
            f"add_user() returned {new_id!r}, but the row it inserted has id {row.id}"
            + (f" ({new_id} is the number of rows in users: return user.id, not a count)" if new_id == _count(db) else "")
        )
    if row.name is not None:
        fail(f"add_user('grace@example.com') stored name={row.name!r}; with no name given it must stay NULL")


def _count(db) -> int:
    with db.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM users")).scalar_one()


@check("two-users-two-ids", "two calls insert two rows with two ids")
def two_users_two_ids(learner, tables, db):
    first = learner.run(add_user, "a@example.com", "A")["id"]
    second = learner.run(add_user, "b@example.com", "B")["id"]
    with db.connect() as conn:
        rows = {row.id: (row.email, row.name) for row in conn.execute(text("SELECT id, email, name FROM users"))}
    if first == second:
        fail(f"both calls returned id {first}; each add_user() must insert a new row")
    if rows.get(first, ("",))[0] != "a@example.com" or rows.get(second, ("",))[0] != "b@example.com":
        shown = {i: email for i, (email, _) in rows.items()}
        fail(f"the ids returned ({first}, {second}) do not match the rows in users: {shown}")
    if rows[first][1] != "A" or rows[second][1] != "B":
        fail(
            f"add_user('a@example.com', 'A') stored name={rows[first][1]!r}: pass the name on to the row, "
            "User(email=email, name=name)"
        )


@check("session-closed", "the session is closed when add_user() returns", testimony=True)
def session_closed(learner, tables):
    left = learner.run(connections_left)
    if left > 0:
        bare = uncalled(learner.source("db.py"), "close")
        if bare:
            fail(
                f"db.py:{bare[0]} names the method without calling it: `session.close` does nothing, so the "
                f"session kept its connection ({left} still checked out of the pool after add_user() returned). "
                "Add the parentheses: `session.close()`"
            )
        fail(
            f"after add_user() returned, {left} connection(s) were still checked out of the pool: "
            "the session was not closed. Use `with SessionLocal() as session:` (it closes on exit) "
            "or call session.close() in a finally block"
        )
