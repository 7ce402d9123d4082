"""Checks for 03-engine-session: engine from the environment, a session factory, add_user()."""

import gc
from pathlib import Path

from sqlalchemy import text

from checker.authoring import check, fail, fix_or_hint, fixture, uncalled
from checker.authoring.shared import learner_engine, no_url_literal, session_factory, url_mismatch

HERE = Path(__file__).parent


@fixture
def tables(learner, db):
    """The grader creates the tables (from the provided models) before add_user runs, with three
    users already in and the id sequence moved far ahead: the new id is neither the row count nor
    a small number a guess would hit."""
    learner.models.Base.metadata.create_all(db)
    with db.begin() as conn:
        conn.execute(
            text("INSERT INTO users (id, email, name) VALUES (:id, :email, :name)"),
            [{"id": i, "email": f"seed{i}@example.com", "name": f"Seed {i}"} for i in (11, 57, 23)],
        )
        conn.execute(text("SELECT setval(pg_get_serial_sequence('users', 'id'), 4700)"))


@fixture
def engine(learner):
    if getattr(learner.db, "engine", None) is None:
        fail(
            "db.py defines no `engine` yet (db.py): the Engine is the one object that knows where the database "
            "is and keeps a pool of connections to it, made once when the module is imported. Its URL comes "
            "from the DATABASE_URL environment variable, never from the code. "
            + fix_or_hint(learner, HERE, 'Write `engine = create_engine(os.environ["DATABASE_URL"])`')
        )
    return learner_engine(learner)


@check("engine-from-env", "engine is built from DATABASE_URL, with no URL in the code")
def engine_from_env(learner, engine, database_url):
    mismatch = url_mismatch(engine.url, database_url)
    if mismatch:
        fail(f'{mismatch}: create it with create_engine(os.environ["DATABASE_URL"])')
    no_url_literal(learner, "db.py")


@check("sessionlocal-factory", "SessionLocal makes a new Session bound to engine on each call")
def sessionlocal_factory(learner, engine):
    factory = session_factory(learner)
    first, second = factory(), factory()
    try:
        if first is second:
            fail("SessionLocal() returned the same Session twice: it must create a new one per call (sessionmaker)")
        if first.get_bind() is not engine:
            fail("sessions from SessionLocal() are not bound to db.engine: use sessionmaker(bind=engine)")
    finally:
        first.close()
        second.close()


@check("add-user-returns-id", "add_user() returns the new user's integer id")
def add_user_returns_id(learner, tables):
    add_user = learner.require("db", "add_user", "add_user(email, name=None) -> int")
    result = add_user("ada@example.com", "Ada")
    if isinstance(result, bool) or not isinstance(result, int):
        fail(
            f"add_user() returned {result!r} ({type(result).__name__}); it must return the new row's id, "
            "an int: `return user.id` after commit and refresh"
        )


@check("add-user-commits", "the new row is committed (visible from another connection)")
def add_user_commits(learner, tables, db):
    new_id = learner.db.add_user("grace@example.com", None)
    new_id = getattr(new_id, "id", new_id)
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
    first = learner.db.add_user("a@example.com", "A")
    second = learner.db.add_user("b@example.com", "B")
    first, second = getattr(first, "id", first), getattr(second, "id", second)
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


@check("session-closed", "the session is closed when add_user() returns")
def session_closed(learner, tables, engine):
    gc.collect()
    gc.disable()  # an unclosed Session sits in reference cycles; don't let the collector tidy up
    try:
        before = engine.pool.checkedout()
        learner.db.add_user("c@example.com", "C")
        left = engine.pool.checkedout() - before
    finally:
        gc.enable()
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
