"""Checks for 12-pooling: a tuned QueuePool that survives dropped idle connections and bursts.

Judged apart from the learner's code (docs/authoring.md, "Acts and checks"). The learner's
``engine`` lives for the whole witness (it is imported once), so its pool carries connections from
one act to the next, as it would in a web app. The acts open sessions the way a web app does and
return plain data; the checks run in the judge, which looks at ``pg_stat_activity`` through its
own connection and terminates the learner's idle connections itself, the way a managed Postgres
(Neon, Supabase) or a firewall drops connections that sit idle. What each session sends carries a
token drawn per run, so the judge can tell the learner's work from an answer made up: the reused
backend still alive with the last token, the statement sent after the kill, 15 backends seen
running the burst's statement at the same moment (evidence). Where the engine points and the
pool's settings, read from the objects, are testimony.
"""

import secrets
import threading
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from checker.authoring import act, check, database_reason, fail, fix_or_hint
from checker.authoring.shared import ask, no_url_literal, session_factory, url_mismatch
from checker.authoring.shared import learner_engine as docchat_engine

HERE = Path(__file__).parent
CONFIG = 'create_engine(os.environ["DATABASE_URL"], pool_size=5, max_overflow=10, pool_pre_ping=True)'
CONCURRENT = 15
BARRIER_S = 8.0
"""How long the concurrent sessions wait for each other before the grader calls it."""
GATE_S = 2.0
"""How long the judge keeps the burst's statements waiting at its gate (an advisory lock it holds)
once the first is seen, if fewer than 15 ever arrive; with all 15 it opens at once."""


def config_or_hint(learner) -> str:
    """The engine line once the learner has tried; on the untouched starter only the way to the hint
    (no solution code before the hints are used)."""
    hint = fix_or_hint(learner, HERE, "")
    return f"`{CONFIG}`" if not hint else f"the settings in create_engine() ({hint[0].lower()}{hint[1:]})"


def engine_line(learner) -> str:
    return learner.where_defined("engine", "db.py")


def _token() -> str:
    return "course_" + secrets.token_hex(8)


# --------------------------------------------------------------------------- acts: in the learner's process


def _learner_engine(ctx):
    return docchat_engine(ctx.learner, "the Engine, created once with create_engine(...)")


def _engine(ctx):
    """``db.engine``, which must point at DATABASE_URL (else no session can be tried)."""
    engine = _learner_engine(ctx)
    if url_mismatch(engine.url, ctx.database_url):
        fail("db.engine does not point at the database in DATABASE_URL, so this cannot be tried (see engine-from-env)")
    return engine


def _literal(token: str) -> str:
    if not token.replace("_", "").isalnum():
        raise ValueError("a token is letters, digits and _")
    return f"'{token}'"


@act
def engine_url(ctx) -> str | None:
    """Where db.engine points, when that is not the run's database (None when it is)."""
    return url_mismatch(_learner_engine(ctx).url, ctx.database_url)


@act
def pool_settings(ctx) -> dict:
    """db.engine's pool, read from the object."""
    from sqlalchemy.pool import NullPool, QueuePool, StaticPool

    pool = _learner_engine(ctx).pool
    queue = isinstance(pool, QueuePool) and not isinstance(pool, StaticPool)
    return {
        "kind": type(pool).__name__,
        "null": isinstance(pool, NullPool),
        "queue": queue,
        "size": pool.size() if queue else None,
        "overflow": pool._max_overflow if queue else None,
        "pre_ping": bool(getattr(pool, "_pre_ping", False)),
    }


@act
def sequential_sessions(ctx, tokens: list[str]) -> dict:
    """One session after the other, each asking for its server process (and carrying its token)."""
    engine = _engine(ctx)
    factory = session_factory(ctx.learner)
    pids = []
    for token in tokens:
        with factory() as session:
            pids.append(session.execute(text(f"SELECT pg_backend_pid(), {_literal(token)}")).scalar())
            # the connection carries the token as its application_name, for the judge to see
            session.execute(text("SELECT set_config('application_name', :token, false)"), {"token": token})
            session.commit()
    with factory() as session:
        bound = session.get_bind() is engine
    checked_out = getattr(engine.pool, "checkedout", None)  # NullPool keeps no count
    return {"pids": pids, "bound": bound, "checked_out": checked_out() if callable(checked_out) else 0}


@act
def two_sessions_at_once(ctx) -> int:
    """Two sessions at once, so the pool holds two connections, idle once the sessions close."""
    from sqlalchemy.pool import QueuePool

    engine = _engine(ctx)
    factory = session_factory(ctx.learner)
    with factory() as first, factory() as second:
        first.execute(text("SELECT 1"))
        second.execute(text("SELECT 1"))
    return engine.pool.checkedin() if isinstance(engine.pool, QueuePool) else 0


@act
def next_session(ctx, token: str) -> dict:
    """The next request's session: its statement's value, or the database's error."""
    from sqlalchemy.exc import DBAPIError

    _engine(ctx)
    factory = session_factory(ctx.learner)
    try:
        with factory() as session:
            value = session.execute(text(f"SELECT {_literal(token)}")).scalar()
    except DBAPIError as error:
        return {"error": database_reason(error)}
    return {"value": value}


@act
def burst(ctx, token: str, gate: int) -> dict:
    """15 threads, each holding a session open until all 15 have one; then each runs the burst's
    statement (carrying ``token``), which waits at the judge's gate (advisory lock ``gate``) until
    the judge, watching pg_stat_activity, has seen them all running."""
    from sqlalchemy.exc import TimeoutError as PoolTimeout
    from sqlalchemy.pool import QueuePool

    engine = _engine(ctx)
    factory = session_factory(ctx.learner)
    barrier = threading.Barrier(CONCURRENT)
    lock = threading.Lock()
    state = {"holding": 0, "peak": 0}
    pids: list[int] = []
    errors: list[BaseException] = []
    gave_up: list[int] = []

    def request(n: int) -> None:
        try:
            with factory() as session:
                pid = session.scalar(text("SELECT pg_backend_pid()"))  # the session now holds a connection
                with lock:
                    state["holding"] += 1
                    state["peak"] = max(state["peak"], state["holding"])
                try:
                    barrier.wait(timeout=BARRIER_S)  # all 15 hold a connection at this point
                    session.execute(text(f"SELECT pg_advisory_xact_lock_shared({int(gate)}), {_literal(token)}"))
                    pids.append(pid)
                finally:
                    with lock:
                        state["holding"] -= 1
        except threading.BrokenBarrierError:
            gave_up.append(n)
        except BaseException as error:  # recorded, judged in the judge
            errors.append(error)
            barrier.abort()

    threads = [threading.Thread(target=request, args=(n,), daemon=True) for n in range(CONCURRENT)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=BARRIER_S + 20)
    pool = engine.pool
    queue = isinstance(pool, QueuePool)
    timeouts = [e for e in errors if isinstance(e, PoolTimeout)]
    return {
        "peak": state["peak"],
        "pids": sorted(set(pids)),
        "gave_up": len(gave_up),
        "stuck": sum(thread.is_alive() for thread in threads),
        "size": pool.size() if queue else None,
        "overflow": pool._max_overflow if queue else None,
        "timeouts": len(timeouts),
        "timeout_reason": database_reason(timeouts[0]) if timeouts else "",
        "errors": len(errors),
        "error": f"{type(errors[0]).__name__}: {database_reason(errors[0])}" if errors else "",
    }


# --------------------------------------------------------------------------- checks: in the judge


def _role(database_url: str) -> str:
    return str(make_url(database_url).username)


@check("engine-from-env", "engine is built from DATABASE_URL, with no URL in the code", testimony=True)
def engine_from_env(learner):
    mismatch = ask(learner, engine_url, kind=(str, type(None)))
    if mismatch:
        fail(f'{mismatch}: create it with create_engine(os.environ["DATABASE_URL"], ...) ({engine_line(learner)})')
    no_url_literal(learner, "db.py")


@check(
    "pool-configured",
    "the engine's pool: a QueuePool sized for the load (5 kept open, 15 at most) that tests connections",
    testimony=True,
)
def pool_configured(learner):
    pool = ask(learner, pool_settings)
    where = engine_line(learner)
    if pool["null"]:
        fail(
            "db.engine uses NullPool: there is no pool at all, so every session opens a brand-new connection "
            "(TCP, authentication, a new server process) and closes it afterwards. Drop poolclass=NullPool "
            f"and let the engine keep a QueuePool: {config_or_hint(learner)} ({where})"
        )
    if not pool["queue"]:
        fail(
            f"db.engine uses {pool['kind']}; a web app on Postgres wants the default QueuePool, which "
            f"lends out up to pool_size + max_overflow connections at once: {config_or_hint(learner)} ({where})"
        )
    problems = []
    if pool["size"] != 5:
        problems.append(f"pool_size is {pool['size']} (want 5: the connections kept open for reuse)")
    overflow = pool["overflow"]
    if overflow != 10:
        shown = "unlimited (-1)" if overflow < 0 else overflow
        problems.append(f"max_overflow is {shown} (want 10: at most 5 + 10 = 15 connections during a burst)")
    if not pool["pre_ping"]:
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
def sessions_share_pool(learner, admin, database_url):
    tokens = [_token() for _ in range(6)]  # drawn per run: each session's statement carries one
    got = ask(learner, sequential_sessions, tokens)
    pids = got["pids"]
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
    if not got["bound"]:
        fail(
            "sessions from SessionLocal() are not bound to db.engine, so they do not use its pool: "
            "`SessionLocal = sessionmaker(bind=engine)`"
        )
    if got["checked_out"]:
        fail(
            f"after those sessions closed, {got['checked_out']} connection(s) were still checked out of "
            "db.engine's pool: something in db.py holds a connection open"
        )
    # What the server saw: each reused connection still open, carrying the token of the last session on it.
    last = {pid: tokens[n] for n, pid in enumerate(pids)}
    reused = [pid for pid in last if pids.count(pid) > 1]
    with admin.connect() as conn:
        alive = dict(
            conn.execute(
                text(
                    "SELECT pid, application_name FROM pg_stat_activity WHERE datname = current_database() "
                    "AND usename = :role AND pid = ANY(:pids)"
                ),
                {"role": _role(database_url), "pids": reused},
            ).all()
        )
    if not any(alive.get(pid) == last[pid] for pid in reused):
        fail(
            f"the sessions reported reusing server process(es) {sorted(reused)}, but the server has no open "
            "connection of your role that ran their statements: the pooled connection a closed session hands "
            "back must stay open for the next one. Create the engine once, at module level, and bind "
            f"SessionLocal to it: `SessionLocal = sessionmaker(bind=engine)` ({where})"
        )


def _terminate_idle(admin, role: str) -> None:
    """End every connection of the learner's role to the run's database (the judge's own connections
    reconnect), and wait until the server has closed them."""
    others = "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND usename = :role"
    with admin.connect() as conn:
        killed = [
            row.pid
            for row in conn.execute(text(f"SELECT pid, pg_terminate_backend(pid) AS done {others}"), {"role": role})
            if row.done
        ]
    deadline = time.monotonic() + 5
    while killed and time.monotonic() < deadline:  # terminate only signals: wait until they are gone
        with admin.connect() as conn:  # a new transaction sees a fresh pg_stat_activity
            alive = conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:pids)"), {"pids": killed}).scalar()
        if not alive:
            break
        time.sleep(0.05)


@check("survives-idle-kill", "after the server drops every idle pooled connection, the next session still works")
def survives_idle_kill(learner, admin, database_url, sql):
    idle = ask(learner, two_sessions_at_once, kind=int)
    _terminate_idle(admin, _role(database_url))
    token = _token()  # drawn per run: the next request's statement
    with sql.capture() as log:
        got = ask(learner, next_session, token)
    if "error" in got:
        fail(
            f"the server closed the {idle} idle connection(s) in db.engine's pool — as Neon, Supabase or a "
            f"firewall do with connections left idle — and the next session failed: {got['error']}. The "
            "pool lent out a connection whose other end had hung up; in production a user sees that error. "
            "With pool_pre_ping=True the pool tests each connection with a tiny round trip before lending it "
            f"and silently replaces a dead one: {config_or_hint(learner)} ({engine_line(learner)})"
        )
    if got.get("value") != token or not any(token in statement.sql for statement in log):
        fail(
            f"after the idle connections were closed, a statement through SessionLocal() returned {got.get('value')!r}"
            f" and Postgres received {'it' if any(token in s.sql for s in log) else 'no such statement'}: the "
            "next session must run its query on a live connection"
        )


@check("fifteen-concurrent", "15 sessions can hold a connection at the same time (the busiest load)")
def fifteen_concurrent(learner, admin, database_url):
    token = _token()  # drawn per run: the statement the 15 sessions run together
    gate = secrets.randbelow(1 << 62)  # the advisory lock they wait at until the judge has seen them all
    seen: dict = {"peak": 0, "pids": set(), "error": None}
    stop, closed = threading.Event(), threading.Event()

    def watch() -> None:
        opened_at = None
        try:
            with admin.connect() as conn:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                conn.execute(text("SELECT pg_advisory_lock(:gate)"), {"gate": gate})
                closed.set()
                try:
                    while not stop.is_set():
                        running = conn.execute(
                            text(
                                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND usename = :role "
                                "AND state = 'active' AND pid <> pg_backend_pid() AND strpos(query, :token) > 0"
                            ),
                            {"role": _role(database_url), "token": token},
                        ).scalars()
                        pids = set(running)
                        seen["peak"] = max(seen["peak"], len(pids))
                        seen["pids"] |= pids
                        if pids and opened_at is None:
                            opened_at = time.monotonic() + GATE_S
                        if opened_at is not None and (len(seen["pids"]) >= CONCURRENT or time.monotonic() > opened_at):
                            break  # all seen at the gate (or as many as will come): open it
                        stop.wait(0.01)
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:gate)"), {"gate": gate})
        except Exception as error:  # judged below
            seen["error"] = error
        finally:
            closed.set()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    closed.wait(timeout=10)  # the gate is held before the first session can reach it
    try:
        got = ask(learner, burst, token, gate)
    finally:
        stop.set()
        watcher.join(timeout=10)
    if seen["error"] is not None:
        raise seen["error"]

    where = engine_line(learner)
    limit = ""
    if got["size"] is not None and got["overflow"] >= 0:
        limit = (
            f" db.engine's pool lends at most pool_size {got['size']} + max_overflow {got['overflow']} = "
            f"{got['size'] + got['overflow']} connections at once;"
        )
    if got["timeouts"]:
        fail(
            f"{got['timeouts']} of {CONCURRENT} concurrent sessions gave up waiting for a connection: "
            f"{got['timeout_reason']}.{limit} the others had to wait for a connection to come back and hit "
            f"pool_timeout. Allow a burst of 15: {config_or_hint(learner)} ({where})"
        )
    if got["errors"]:
        fail(f"{got['errors']} of {CONCURRENT} concurrent sessions failed: {got['error']} ({where})")
    if got["gave_up"] or got["stuck"] or len(got["pids"]) != CONCURRENT:
        fail(
            f"only {got['peak']} of {CONCURRENT} concurrent sessions could hold a connection at the same "
            f"time; the rest were still waiting for the pool after {BARRIER_S:.0f} s.{limit} once they are all "
            "lent out, the next session waits (up to pool_timeout, 30 s by default) and then fails with "
            f"TimeoutError. A burst of 15 needs room for 15: {config_or_hint(learner)} ({where})"
        )
    if len(seen["pids"]) < CONCURRENT:  # all released by one barrier, each held at the gate: the server sees each
        fail(
            f"the server saw {len(seen['pids'])} of the {CONCURRENT} sessions running their statement (at most "
            f"{seen['peak']} at the same moment): the 15 sessions must each hold a "
            f"connection of db.engine's pool at once. A burst of 15 needs room for 15: {config_or_hint(learner)} "
            f"({where})"
        )
