"""Checks for 12-pooling: a tuned QueuePool that survives dropped idle connections and bursts.

The learner's ``engine`` lives for the whole grading process (it is imported once), so its pool
carries connections from one check to the next, as it would in a web app. The grader talks to the
server through the ``admin`` fixture (a superuser engine without a pool) to look at
``pg_stat_activity`` and to terminate the learner's idle connections, the way a managed Postgres
(Neon, Supabase) or a firewall drops connections that sit idle.
"""

import threading
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import NullPool, QueuePool, StaticPool

from checker.authoring import check, database_reason, fail, fix_or_hint, fixture
from checker.authoring.shared import no_url_literal, session_factory, url_mismatch
from checker.authoring.shared import learner_engine as docchat_engine

HERE = Path(__file__).parent
CONFIG = 'create_engine(os.environ["DATABASE_URL"], pool_size=5, max_overflow=10, pool_pre_ping=True)'


def config_or_hint(learner) -> str:
    """The engine line once the learner has tried; on the untouched starter only the way to the hint
    (no solution code before the hints are used)."""
    hint = fix_or_hint(learner, HERE, "")
    return f"`{CONFIG}`" if not hint else f"the settings in create_engine() ({hint[0].lower()}{hint[1:]})"
CONCURRENT = 15
BARRIER_S = 8.0
"""How long the concurrent sessions wait for each other before the grader calls it."""


@fixture
def learner_engine(learner):
    """``db.engine``, wherever it points."""
    return docchat_engine(learner, "the Engine, created once with create_engine(...)")


@fixture
def engine(learner_engine, database_url):
    """``db.engine``, which must point at DATABASE_URL (else no session can be tried)."""
    if url_mismatch(learner_engine.url, database_url):
        fail(
            "db.engine does not point at the database in DATABASE_URL, so this cannot be tried "
            "(see engine-from-env)"
        )
    return learner_engine


fixture(session_factory)


def engine_line(learner) -> str:
    return learner.where_defined("engine", "db.py")


def backend_pid(factory) -> int:
    with factory() as session:
        return session.scalar(text("SELECT pg_backend_pid()"))


# --------------------------------------------------------------------------- checks


@check("engine-from-env", "engine is built from DATABASE_URL, with no URL in the code")
def engine_from_env(learner, learner_engine, database_url):
    mismatch = url_mismatch(learner_engine.url, database_url)
    if mismatch:
        fail(f'{mismatch}: create it with create_engine(os.environ["DATABASE_URL"], ...) ({engine_line(learner)})')
    no_url_literal(learner, "db.py")


@check("pool-configured", "the engine's pool: a QueuePool sized for the load (5 kept open, 15 at most) that tests connections")
def pool_configured(learner, learner_engine):
    pool = learner_engine.pool
    where = engine_line(learner)
    if isinstance(pool, NullPool):
        fail(
            "db.engine uses NullPool: there is no pool at all, so every session opens a brand-new connection "
            "(TCP, authentication, a new server process) and closes it afterwards. Drop poolclass=NullPool "
            f"and let the engine keep a QueuePool: {config_or_hint(learner)} ({where})"
        )
    if isinstance(pool, StaticPool) or not isinstance(pool, QueuePool):
        fail(
            f"db.engine uses {type(pool).__name__}; a web app on Postgres wants the default QueuePool, which "
            f"lends out up to pool_size + max_overflow connections at once: {config_or_hint(learner)} ({where})"
        )
    problems = []
    if pool.size() != 5:
        problems.append(f"pool_size is {pool.size()} (want 5: the connections kept open for reuse)")
    overflow = pool._max_overflow
    if overflow != 10:
        shown = "unlimited (-1)" if overflow < 0 else overflow
        problems.append(f"max_overflow is {shown} (want 10: at most 5 + 10 = 15 connections during a burst)")
    if not pool._pre_ping:
        problems.append(
            "pool_pre_ping is off (want True: test each pooled connection before lending it out, and replace "
            "it silently if the server has closed it)"
        )
    if problems:
        fail(
            f"db.engine's pool is not configured as asked ({where}): {'; '.join(problems)}. The pool is set up "
            "by create_engine's keyword arguments. " + fix_or_hint(learner, HERE, f"Write `{CONFIG}`")
        )


@check("sessions-share-pool", "sessions from SessionLocal() borrow and return the engine's pooled connections")
def sessions_share_pool(learner, engine, session_factory):
    pids = [backend_pid(session_factory) for _ in range(6)]
    where = learner.where_defined("SessionLocal", "db.py")
    if len(set(pids)) == len(pids):
        fail(
            "6 sessions opened one after the other ran on 6 different server processes (6 different "
            "pg_backend_pid() values): no connection was ever reused. With a pool, a closed session hands its "
            "connection back and the next session borrows it again — at most pool_size different connections "
            "for sessions that never overlap. A new connection per session means a new engine (a new pool) "
            "per session, or NullPool. Create the engine once, at module level, and bind SessionLocal to it: "
            f"`SessionLocal = sessionmaker(bind=engine)` ({where})"
        )
    with session_factory() as session:
        bind = session.get_bind()
    if bind is not engine:
        fail(
            "sessions from SessionLocal() are not bound to db.engine, so they do not use its pool: "
            "`SessionLocal = sessionmaker(bind=engine)`"
        )
    if engine.pool.checkedout():
        fail(
            f"after those sessions closed, {engine.pool.checkedout()} connection(s) were still checked out of "
            "db.engine's pool: something in db.py holds a connection open"
        )


@check("survives-idle-kill", "after the server drops every idle pooled connection, the next session still works")
def survives_idle_kill(learner, engine, session_factory, admin, database_url):
    role = make_url(database_url).username
    # Two sessions at once, so the pool holds two connections; both are idle once the sessions close.
    with session_factory() as first, session_factory() as second:
        first.execute(text("SELECT 1"))
        second.execute(text("SELECT 1"))
    idle = engine.pool.checkedin() if isinstance(engine.pool, QueuePool) else 0

    others = (
        "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND usename = :role"
    )
    with admin.connect() as conn:
        killed = [
            row.pid
            for row in conn.execute(text(f"SELECT pid, pg_terminate_backend(pid) AS done {others}"), {"role": role})
            if row.done
        ]
    deadline = time.monotonic() + 5
    while killed and time.monotonic() < deadline:  # terminate only signals: wait until they are gone
        with admin.connect() as conn:  # a new transaction sees a fresh pg_stat_activity
            alive = conn.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:pids)"), {"pids": killed}
            ).scalar()
        if not alive:
            break
        time.sleep(0.05)

    try:
        with session_factory() as session:
            value = session.scalar(text("SELECT 1"))
    except DBAPIError as error:
        fail(
            f"the server closed the {idle} idle connection(s) in db.engine's pool — as Neon, Supabase or a "
            f"firewall do with connections left idle — and the next session failed: {database_reason(error)}. The "
            "pool lent out a connection whose other end had hung up; in production a user sees that error. "
            "With pool_pre_ping=True the pool tests each connection with a tiny round trip before lending it "
            f"and silently replaces a dead one: {config_or_hint(learner)} ({engine_line(learner)})"
        )
    if value != 1:
        fail(f"after the idle connections were closed, `SELECT 1` through SessionLocal() returned {value!r}")


@check("fifteen-concurrent", "15 sessions can hold a connection at the same time (the busiest load)")
def fifteen_concurrent(learner, engine, session_factory):
    barrier = threading.Barrier(CONCURRENT)
    lock = threading.Lock()
    state = {"holding": 0, "peak": 0}
    pids: list[int] = []
    errors: list[BaseException] = []
    gave_up: list[int] = []

    def request(n: int) -> None:
        try:
            with session_factory() as session:
                pid = session.scalar(text("SELECT pg_backend_pid()"))  # the session now holds a connection
                with lock:
                    state["holding"] += 1
                    state["peak"] = max(state["peak"], state["holding"])
                try:
                    barrier.wait(timeout=BARRIER_S)  # all 15 hold a connection at this point
                    session.execute(text("SELECT pg_sleep(0.1)"))
                    pids.append(pid)
                finally:
                    with lock:
                        state["holding"] -= 1
        except threading.BrokenBarrierError:
            gave_up.append(n)
        except BaseException as error:  # recorded, judged below
            errors.append(error)
            barrier.abort()

    threads = [threading.Thread(target=request, args=(n,), daemon=True) for n in range(CONCURRENT)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=BARRIER_S + 20)
    stuck = sum(thread.is_alive() for thread in threads)

    where = engine_line(learner)
    pool = engine.pool
    limit = ""
    if isinstance(pool, QueuePool):
        overflow = pool._max_overflow
        limit = (
            f" db.engine's pool lends at most pool_size {pool.size()} + max_overflow {overflow} = "
            f"{pool.size() + overflow} connections at once;"
            if overflow >= 0
            else ""
        )
    timeouts = [e for e in errors if isinstance(e, PoolTimeout)]
    if timeouts:
        fail(
            f"{len(timeouts)} of {CONCURRENT} concurrent sessions gave up waiting for a connection: "
            f"{database_reason(timeouts[0])}.{limit} the others had to wait for a connection to come back and hit "
            f"pool_timeout. Allow a burst of 15: {config_or_hint(learner)} ({where})"
        )
    if errors:
        fail(
            f"{len(errors)} of {CONCURRENT} concurrent sessions failed: {type(errors[0]).__name__}: "
            f"{database_reason(errors[0])} ({where})"
        )
    if gave_up or stuck or len(set(pids)) != CONCURRENT:
        fail(
            f"only {state['peak']} of {CONCURRENT} concurrent sessions could hold a connection at the same "
            f"time; the rest were still waiting for the pool after {BARRIER_S:.0f} s.{limit} once they are all "
            "lent out, the next session waits (up to pool_timeout, 30 s by default) and then fails with "
            f"TimeoutError. A burst of 15 needs room for 15: {config_or_hint(learner)} ({where})"
        )
