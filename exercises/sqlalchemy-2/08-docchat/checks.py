"""Checks for 08-docchat: DocChat persisted, with a schema built by its own Alembic migrations.

Judged apart from the learner's code (docs/authoring.md, "Acts and checks"). The acts below run
in the learner's process: they run the learner's migrations with Alembic's own API
(``alembic.command.upgrade`` on the learner's ``alembic.ini``, exactly what ``alembic upgrade
head`` does, in the learner's folder), compare the models with the database, and start "a
restart": brand-new Python processes that POST documents through the learner's app (FastAPI's
``TestClient``), then GET them back. They return plain data. The checks run in the judge and
decide from what they see themselves: the tables, columns, defaults and alembic_version through
their own connection, the rows the first process left, the ORDER BY of the GET as Postgres
received it, a session left open as a backend "idle in transaction" in ``pg_stat_activity``,
and the learner's files read as text. The titles, the creation times, the documents' id sequence
and the marker statements are drawn per run in the judge.
"""

import configparser
import contextlib
import gc
import json
import random
import re
import secrets
import tempfile
import warnings
from pathlib import Path

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from checker.authoring import (
    CheckFailed,
    Shape,
    act,
    calls,
    check,
    fail,
    fix_or_hint,
    fixture,
    migrations,
    run_fresh,
    step,
    url_literals,
)
from checker.authoring.shared import (
    count,
    first_order_by,
    frozen_default,
    frozen_message,
    held_pool,
    learner_engine,
    no_url_literal,
    open_transactions,
    ordering_mistake,
    shaped,
    url_mismatch,
    where_function,
    yielding,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # some Starlette versions warn about httpx on import
    from alembic import command
    from fastapi import Depends, FastAPI, HTTPException
    from fastapi.testclient import TestClient


# Where env.py must NOT connect: the grader writes it into alembic.ini's sqlalchemy.url for one
# run. Port 1 refuses at once, so a learner env.py that trusts the .ini fails fast.
DEAD_URL = "postgresql+psycopg://not_this_user:not_this_password@127.0.0.1:1/not_this_database?connect_timeout=3"
GENERATE = 'course exec 08-docchat -- alembic revision --autogenerate -m "create users and documents"'
APP_FILES = ("main.py", "db.py", "deps.py", "models.py")
EXPECTED_COLUMNS = {
    "users": {"id", "email", "name"},
    "documents": {"id", "title", "body", "owner_id", "created_at"},
}
SUBPROCESS_TIMEOUT = 40
FIX_GET_DB = "db = SessionLocal()` then `try: yield db` / `finally: db.close()"
MISSING_INI = (
    "alembic.ini is missing from your exercise folder: restore it with `course reset 08-docchat` "
    "(after saving your work), or run `alembic init alembic` there"
)


# --------------------------------------------------------------------------- alembic helpers


def advice(text_: str) -> str | None:
    """What an Alembic error usually means in this exercise (``checker.authoring.migrations`` adds the rest)."""
    if "sqlalchemy.dialects:driver" in text_ or "driver://" in text_:
        return (
            "env.py connected to the placeholder URL of alembic.ini (driver://user:pass@localhost/dbname). "
            'Take the URL from the environment in env.py: config.set_main_option("sqlalchemy.url", '
            'os.environ["DATABASE_URL"].replace("%", "%%")), or create the engine from os.environ["DATABASE_URL"]'
        )
    if "Multiple head" in text_ or "multiple heads" in text_.lower():
        return (
            "there are several heads: two revisions have the same down_revision. Delete the duplicate, or "
            "point the newer one's down_revision at the older one's revision id"
        )
    if "Can't locate revision" in text_:
        return (
            "the database or a revision file names a revision id that no file in alembic/versions/ defines: "
            "check every down_revision"
        )
    if "depend on it" in text_ or "DependentObjectsStillExist" in text_:
        return (
            "downgrade() drops users while documents still references it through its foreign key: drop "
            "documents first, then users — the reverse order of upgrade()"
        )
    if "already exists" in text_:
        return (
            "a table the revision creates already exists: did something run create_all on this database? "
            "The schema must come from the migrations alone"
        )
    if "connection" in text_ and ("OperationalError" in text_ or "refused" in text_):
        return (
            "env.py could not connect to the database. It must connect to os.environ[\"DATABASE_URL\"] (the "
            "grader's fresh database); a URL taken from alembic.ini or written into env.py points elsewhere"
        )
    if text_.startswith("ModuleNotFoundError"):
        return (
            "alembic.ini's prepend_sys_path = . puts the exercise folder on sys.path, so env.py imports your "
            "flat modules directly: `from models import Base`"
        )
    return None


migrate = migrations.Advised(advice)
"""``migrate.run(...)``, ``migrate.explain(...)``, ``migrate.script_directory(...)`` with this advice."""


def alembic_config(learner, url: str | None = None):
    """alembic.ini as the learner wrote it: env.py must find DATABASE_URL itself. With ``url``,
    alembic.ini's sqlalchemy.url replaced by it."""
    return migrations.alembic_config(learner, url, missing=MISSING_INI)


def revisions(learner):
    """The learner's revision scripts (and a failure if there are none, or several heads)."""
    script = migrate.script_directory(learner, alembic_config(learner))
    try:
        found = list(script.walk_revisions())
        heads = script.get_heads()
    except Exception as error:
        fail("Alembic cannot read alembic/versions/:\n" + migrate.explain(error, learner))
    if not found:
        fail(
            "alembic/versions/ holds no revision, so `alembic upgrade head` has nothing to run and creates no "
            f"tables. Generate one: `{GENERATE}`, open the new file, review upgrade() and downgrade(), then "
            "`course exec 08-docchat -- alembic upgrade head`"
        )
    if len(heads) != 1:
        fail(
            f"alembic/versions/ has {len(heads)} heads ({', '.join(heads)}): two revisions point at the same "
            "down_revision. A healthy history is one chain with one head; delete the duplicate revision"
        )
    return script, found


def head_file(learner, script) -> str:
    """``alembic/versions/x.py``: the head revision's file."""
    return migrations.relative(learner, script.get_revision(script.get_heads()[0]).path)


# --------------------------------------------------------------------------- subprocess helpers


PROLOGUE = """
import json, sys, warnings
warnings.simplefilter("ignore")
from fastapi.testclient import TestClient
import main
"""

START_SCRIPT = PROLOGUE + """
with TestClient(main.app, raise_server_exceptions=False) as client:  # runs startup/lifespan too
    client.get("/documents")
"""

POST_SCRIPT = PROLOGUE + """
client = TestClient(main.app)
results = []
for title in json.loads(sys.argv[2]):
    response = client.post("/documents", params={"title": title, "body": "text of " + title})
    results.append([response.status_code, response.text])
with open(sys.argv[1], "w") as out:
    json.dump(results, out)
"""

GET_SCRIPT = PROLOGUE + """
from sqlalchemy import event
from sqlalchemy.engine import Engine
sent = []  # what the app says it sent: a hint for the message where the server keeps no statement log
event.listen(Engine, "before_cursor_execute", lambda conn, cursor, statement, *rest: sent.append(statement))
response = TestClient(main.app).get("/documents")
with open(sys.argv[1], "w") as out:
    json.dump([response.status_code, response.text, sent], out)
"""

SCRIPTS = {"start": START_SCRIPT, "post": POST_SCRIPT, "get": GET_SCRIPT}

HERE = Path(__file__).parent
RANDOM = random.SystemRandom()


def learner_lines(stderr: str, learner) -> str:
    """The learner's frames and the final error of a traceback printed by a subprocess."""
    root = str(learner.dir.resolve())
    lines = stderr.rstrip().splitlines()
    start = max((i for i, line in enumerate(lines) if line.startswith("Traceback")), default=0)
    kept = []
    tail = lines[start:]
    for index, line in enumerate(tail):
        if line.strip().startswith("File ") and root in line:
            kept.append(line.strip().replace(root + "/", ""))
            if index + 1 < len(tail) and not tail[index + 1].strip().startswith("File "):
                kept.append("    " + tail[index + 1].strip())
    errors = [line for line in tail if re.match(r"^[A-Za-z_][\w.]*(: |$)", line)]
    return "\n".join(kept + errors[-1:])[-1500:] or stderr[-1500:]


def sequence_used(engine, start: int) -> bool:
    """Whether documents' id sequence handed out a value past ``start``: INSERTs were sent, even if rolled back."""
    with engine.connect() as conn:
        name = conn.execute(text("SELECT pg_get_serial_sequence('documents', 'id')")).scalar()
        if name is None:
            return False
        last = conn.execute(text(f"SELECT last_value FROM {name}")).scalar()
    return last > start


def in_fresh_process(learner, script: str, what: str, *args: str):
    """Run ``script`` in a freshly started process (the learner's modules imported anew) in the
    learner's folder; return its JSON output."""
    with tempfile.TemporaryDirectory(prefix="grader-") as scratch:
        out = Path(scratch) / "out.json"
        done = run_fresh(learner.dir, script, [str(out), *args], SUBPROCESS_TIMEOUT)
        if done.returncode is None:
            fail(f"{what} did not finish within {SUBPROCESS_TIMEOUT} s (a blocking call at import, or a hang?)")
        if done.returncode != 0:
            fail(f"{what} failed:\n{learner_lines(done.stderr, learner)}")
        if not out.exists():
            return None
        return json.loads(out.read_text())


# --------------------------------------------------------------------------- app helpers


def describe_status(status: int, body: str, call: str) -> str:
    if status == 404:
        return f"{call} answered 404 Not Found: main.py has no such route"
    if status == 422:
        return (
            f"{call} was rejected with 422 ({body[:200]}): title and body come from the query string, "
            "def create_document(title: str, body: str, db: Session = Depends(get_db))"
        )
    return f"{call} answered {status}: {body[:300]}"


# --------------------------------------------------------------------------- acts: in the learner's process


class _Unwatched:
    """``sql`` for the migration helpers inside an act: the judge captures what Postgres received
    (and flags the failing statement), not the learner's process."""

    @staticmethod
    @contextlib.contextmanager
    def capture():
        yield []

    @staticmethod
    def flag(statements, note: str = "") -> None:
        return None


UNWATCHED = _Unwatched()


@act
def head(ctx) -> dict:
    """The head revision and its file (a failure if there is no revision, or several heads)."""
    script, _ = revisions(ctx.learner)
    return {"head": script.get_heads()[0], "file": head_file(ctx.learner, script)}


@act
def alembic(ctx, verb: str, target: str, owner: str = "") -> None:
    """``alembic <verb> <target>`` on the learner's alembic.ini, env.py and revisions."""
    if owner:
        try:
            found = bool(list(migrations.script_directory(ctx.learner, alembic_config(ctx.learner)).walk_revisions()))
        except CheckFailed:
            raise
        except Exception:  # a failure too: upgrade-builds-schema says what is wrong
            found = False
        if not found:
            fail(
                "this check needs the schema your migrations build, but alembic/versions/ holds no revision "
                "(see the check upgrade-builds-schema)"
            )
    migrate.run(ctx.learner, UNWATCHED, alembic_config(ctx.learner), verb, target, owner=owner)


@act
def engine_url(ctx) -> str | None:
    """Where db.engine points, when that is not the run's database (None when it is)."""
    engine = learner_engine(ctx.learner, 'engine = create_engine(os.environ["DATABASE_URL"])')
    return url_mismatch(engine.url, ctx.database_url)


@act
def upgrade_with_dead_ini(ctx) -> dict:
    """`alembic upgrade head` with a dead address in alembic.ini's sqlalchemy.url: the error, if any."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            command.upgrade(alembic_config(ctx.learner, DEAD_URL), "head")
    except Exception as error:
        return {"error": str(error)[:2000], "explained": migrate.explain(error, ctx.learner)}
    return {"error": None, "explained": ""}


@act
def model_drift(ctx, where: str) -> str | None:
    """What differs between models.py and the database the migrations built (None: nothing)."""
    diffs, needed = migrations.compare(ctx.engine, ctx.learner.models.Base.metadata)
    if not diffs:
        return None
    return migrations.drift_message(
        diffs,
        needed,
        f"the schema your migrations build differs from models.py. Regenerate or fix the revision ({where}) "
        "so that upgrade head gives exactly what the models declare:",
    )


@act
def alembic_check(ctx) -> str | None:
    """`alembic check` through the learner's env.py: what to say when it cannot compare (None: it can)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            command.check(alembic_config(ctx.learner))
    except Exception as error:
        if "MetaData" in str(error):
            return (
                "`alembic check` (and `alembic revision --autogenerate`) cannot compare your models with the "
                "database: env.py does not give Alembic your models' metadata. Set "
                "`target_metadata = Base.metadata` (with `from models import Base`) in alembic/env.py"
            )
        return "`alembic check` failed:\n" + migrate.explain(error, ctx.learner)
    return None


@act
def fresh_process(ctx, which: str, what: str, *args: str):
    """One of the scripts in a freshly started process (the learner's modules imported anew): its JSON output."""
    return in_fresh_process(ctx.learner, SCRIPTS[which], what, *args)


@act
def fresh_pool(ctx) -> None:
    """db.engine's pool empty (the schema was recreated), the collector off until the check ends:
    an unclosed Session sits in reference cycles, and the collector would tidy up after it."""
    gc.collect()  # sessions a previous check left unclosed give their connections back first
    learner_engine(ctx.learner, "").dispose()
    gc.disable()


@act
def release(ctx) -> None:
    ctx.state.pop("held", None)
    gc.enable()
    gc.collect()


@act
def requests_then_raise(ctx, titles: list[str], marker: str) -> dict:
    """A POST for each title, as many GETs, then a route the judge adds (it uses the session, sends
    the marker, then raises HTTPException(404)); stops at the first request after which a
    connection is still checked out of db.engine's pool."""
    learner = ctx.learner
    get_db = learner.require("deps", "get_db", "a generator: yield a session from SessionLocal, close it in finally")
    where = where_function(get_db, learner, "deps.py")
    if not yielding(get_db):
        fail(
            f"get_db must be a dependency that yields ({where}): a generator function (or an async one, or an "
            f"instance whose __call__ yields), so that FastAPI closes the session after the request: `{FIX_GET_DB}`"
        )
    app = learner.require("main", "app", "app = FastAPI()")
    if not isinstance(app, FastAPI):
        fail(f"main.app must be a FastAPI application, not a {type(app).__name__}")
    engine = learner_engine(learner, "")
    reached: list = []

    def grader_boom(db: Session = Depends(get_db)):  # noqa: B008 (FastAPI's way to declare a dependency)
        reached.append(db)
        db.execute(text(f"SELECT '{marker}' AS grader_marker"))
        raise HTTPException(status_code=404, detail="not found")

    path = "/__grader__/boom"
    app.add_api_route(path, grader_boom, methods=["GET"])
    route = next(r for r in reversed(app.router.routes) if getattr(r, "path", None) == path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client = TestClient(app)  # the learner's exceptions surface with their traceback; HTTPException is a 404
    try:
        requests = [("POST", "/documents", {"title": title, "body": "text"}) for title in titles]
        requests += [("GET", "/documents", None)] * len(titles) + [("GET", path, None)]
        for method, url, params in requests:
            response = client.request(method, url, params=params)
            if url != path and not 200 <= response.status_code < 300:
                fail(describe_status(response.status_code, response.text, f"{method} {url}"))
            left = engine.pool.checkedout()
            if left:
                return {"after": f"{method} {url}", "boom": url == path, "left": left, "reached": bool(reached), "where": where}
    finally:
        app.router.routes.remove(route)
        ctx.state.setdefault("held", []).extend(reached)
    return {"after": "", "boom": False, "left": 0, "reached": bool(reached), "where": where}


# --------------------------------------------------------------------------- fixtures and checks: in the judge


def run_alembic(learner, sql, verb: str, target: str, owner: str = "") -> None:
    """``alembic <verb> <target>`` in the learner's process; the statement Postgres received last
    is flagged when it fails."""
    with sql.capture() as log:
        try:
            learner.run(alembic, verb, target, owner)
        except CheckFailed:
            if log and not owner:
                sql.flag(log[-1:], "the statement that failed")
            raise


def head_of(learner) -> tuple[str, str]:
    got = shaped(learner.run(head), ("head", "file"), "the head revision")
    return str(got["head"]), str(got["file"])


def drawn_title() -> str:
    words = ("Meeting", "Release", "Onboarding", "Refund", "Roadmap", "Budget", "Hiring", "Security", "Travel", "Design")
    nouns = ("notes", "checklist", "guide", "policy", "plan", "memo", "review", "summary")
    return f"{RANDOM.choice(words)} {RANDOM.choice(nouns)} {RANDOM.randrange(100, 10_000)}"


@fixture
def fresh(db):
    """The grader's view of the empty database the check starts on."""
    existing = migrations.table_names(db)
    if existing:
        fail(
            f"the database should be empty at the start of this check, but it holds {', '.join(sorted(existing))}: "
            "does your code create tables in a background thread?"
        )
    return db


@fixture
def migrated(learner, fresh, sql):
    """The learner's migrations at head, user 1, who owns every document, and the documents' id
    sequence moved to a place drawn for this run (a POSTed document's id is never the row count)."""
    run_alembic(learner, sql, "upgrade", "head", owner="upgrade-builds-schema")
    missing = {"users", "documents"} - migrations.table_names(fresh)
    if missing:
        fail(
            f"after `alembic upgrade head` the database has no table {' and no table '.join(sorted(missing))}, so there is "
            "nothing to store documents in (see the check upgrade-builds-schema)"
        )
    start = RANDOM.randrange(500, 90_000)
    try:
        with fresh.begin() as conn:
            conn.execute(text("INSERT INTO users (id, email, name) VALUES (1, 'owner@docchat.dev', 'Owner')"))
            conn.execute(text("SELECT setval(pg_get_serial_sequence('users', 'id'), 1)"))
            conn.execute(text("SELECT setval(pg_get_serial_sequence('documents', 'id'), :start)"), {"start": start})
    except Exception as error:
        fail(
            "the grader could not add user 1 to the users table your migrations built: "
            f"{str(error).splitlines()[0]} (see the check upgrade-builds-schema)"
        )
    return start


@check("url-from-env", "the app and env.py take the database URL from DATABASE_URL; no URL in the code")
def url_from_env(learner, fresh):
    mismatch = learner.run(engine_url)
    if mismatch:
        fail(f'{mismatch}: create_engine(os.environ["DATABASE_URL"])')
    for filename in ("db.py", "alembic/env.py", "main.py", "deps.py"):
        no_url_literal(learner, filename)
    ini_text = learner.source("alembic.ini")
    parser = configparser.RawConfigParser()
    try:
        parser.read_string(ini_text)
        ini_url = parser.get("alembic", "sqlalchemy.url", fallback="").strip()
    except configparser.Error as error:
        fail(f"alembic.ini cannot be read: {str(error).splitlines()[0]}")
    if ini_url and url_literals(repr(ini_url)):  # a database URL, not the driver://... placeholder
        line = next((n for n, row in enumerate(ini_text.splitlines(), 1) if row.strip().startswith("sqlalchemy.url")), 0)
        fail(
            f"alembic.ini:{line} sets sqlalchemy.url to a real database URL. alembic.ini is committed with the "
            "code, so that is a password in git, and every machine would migrate that one database. Put back "
            "the placeholder (or leave it empty) and let env.py read os.environ[\"DATABASE_URL\"]"
        )
    # behaviour: with a dead address in alembic.ini, env.py must still reach DATABASE_URL's database
    got = shaped(learner.run(upgrade_with_dead_ini), ("error", "explained"), "`alembic upgrade head`")
    message = got["error"]
    if isinstance(message, str):
        if "127.0.0.1" in message or "not_this" in message or "port 1" in message:
            fail(
                "env.py takes its URL from alembic.ini: the grader put a dead address in alembic.ini's "
                "sqlalchemy.url for one run, and `alembic upgrade head` tried to connect to it instead of to "
                "DATABASE_URL. In env.py, after `config = context.config`, add "
                'config.set_main_option("sqlalchemy.url", os.environ["DATABASE_URL"].replace("%", "%%")) — '
                "or build the engine from os.environ[\"DATABASE_URL\"] yourself"
            )
        if "sqlalchemy.dialects:driver" in message:
            fail("`alembic upgrade head` failed:\n" + str(got["explained"]))
        # any other error is about the migrations themselves: upgrade-builds-schema reports it
        return
    if "alembic_version" not in migrations.table_names(fresh):
        fail(
            "`alembic upgrade head` ran, but left no alembic_version table in the database named by "
            "DATABASE_URL: env.py connected somewhere else. Build its engine from os.environ[\"DATABASE_URL\"]"
        )


@check("upgrade-builds-schema", "`alembic upgrade head` on an empty database builds users and documents, matching the models")
def upgrade_builds_schema(learner, fresh, sql):
    revision, where = head_of(learner)
    run_alembic(learner, sql, "upgrade", "head")
    tables = migrations.table_names(fresh)
    missing = {"users", "documents"} - tables
    if missing:
        empty = (
            " If its upgrade() is just `pass`, it was made without --autogenerate (which refuses to run while "
            "env.py's target_metadata is None). Set target_metadata = Base.metadata in env.py, delete the empty "
            f"revision, and generate it again: `{GENERATE}`"
        )
        names = " and ".join(sorted(missing))
        fail(
            f"after `alembic upgrade head` the database holds {', '.join(sorted(tables)) or 'no tables'}: "
            f"{'tables ' + names + ' are' if len(missing) > 1 else 'table ' + names + ' is'} missing. Your revision "
            f"({where}) must create users and documents with op.create_table(...).{empty}"
        )
    with fresh.connect() as conn:
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    if version != [revision]:
        fail(f"after `upgrade head`, alembic_version holds {version}; expected the head {revision}")
    inspector = sa_inspect(fresh)
    for table, columns in EXPECTED_COLUMNS.items():
        have = {c["name"] for c in inspector.get_columns(table)}
        if columns - have:
            fail(
                f"after the upgrade, table {table} has columns {', '.join(sorted(have))}; it needs "
                f"{', '.join(sorted(columns - have))} too ({where})"
            )
    with fresh.connect() as conn:
        constant = frozen_default(conn, "documents", "created_at")
    if constant is not None:
        fail(frozen_message("documents", "created_at", constant, 'server_default=sa.text("now()") in the revision', where))
    try:
        with fresh.begin() as conn:
            conn.execute(text("INSERT INTO users (email) VALUES ('probe@docchat.dev')"))
            user_id = conn.execute(text("SELECT id FROM users")).scalar_one()
            conn.execute(
                text("INSERT INTO documents (title, body, owner_id) VALUES ('probe', 'text', :owner)"),
                {"owner": user_id},
            )
            created_at = conn.execute(text("SELECT created_at FROM documents")).scalar_one()
            conn.rollback()
    except IntegrityError as error:
        if "created_at" in str(error):
            fail(
                "an INSERT into documents without created_at fails with a NOT NULL violation: the migration "
                f"creates documents.created_at without a server default ({where}). The model's "
                "server_default=func.now() must be in the revision too: "
                "sa.Column(\"created_at\", sa.DateTime(), server_default=sa.text(\"now()\"), nullable=False). "
                "Autogenerate writes that for you; it is lost when the column is written by hand"
            )
        fail(f"the grader could not insert a valid row into the migrated tables: {str(error).splitlines()[0]}")
    if created_at is None:
        fail(f"documents.created_at stays NULL when no value is given: add server_default=sa.text(\"now()\") ({where})")
    drift = learner.run(model_drift, where)
    if drift:
        fail(str(drift))
    # the same comparison through the learner's env.py: `alembic check` needs target_metadata
    checked = learner.run(alembic_check)
    if checked:
        fail(str(checked))


@check("downgrade-base", "`alembic downgrade base` removes the tables again, and upgrade head still works after it")
def downgrade_base(learner, fresh, sql):
    _, where = head_of(learner)
    run_alembic(learner, sql, "upgrade", "head")
    built = {"users", "documents"} & migrations.table_names(fresh)
    run_alembic(learner, sql, "downgrade", "base")
    left = migrations.table_names(fresh) - {"alembic_version"}
    if left:
        fail(
            f"after `alembic downgrade base` the tables {', '.join(sorted(left))} are still there: downgrade() "
            f"must undo upgrade(), dropping in reverse order — op.drop_table(\"documents\"), then "
            f"op.drop_table(\"users\") ({where})"
        )
    run_alembic(learner, sql, "upgrade", "head")
    if len(built) < 2 or not {"users", "documents"} <= migrations.table_names(fresh):
        fail(
            "`alembic upgrade head` did not build users and documents, so there was nothing for "
            "`alembic downgrade base` to remove (see the check upgrade-builds-schema)"
        )


@check("no-create-all", "the app never calls create_all: starting it on an empty database creates no tables")
def no_create_all(learner, fresh):
    learner.run(fresh_process, "start", "starting your app (import main, run its startup, GET /documents)")
    created = migrations.table_names(fresh)
    if created and "alembic_version" not in created:
        fail(
            f"starting your app on an empty database created the tables {', '.join(sorted(created))}: something "
            "calls Base.metadata.create_all() at import or at startup. Alembic owns the schema now: create_all "
            "never alters a table that exists, so the next migration would find the database in a state no "
            "revision made. Remove it, and build the schema with `alembic upgrade head`"
        )
    for filename in APP_FILES:
        lines = calls(learner.source(filename), "create_all")
        if lines:
            fail(
                f"{filename}:{lines[0]} calls create_all(). The schema must come from your migrations alone "
                "(`alembic upgrade head`); remove the call"
            )


def creation_order(ids: list[int]) -> list[int]:
    """``ids`` (in id order) newest first by the creation times the judge gives them: drawn for
    this run, never the order of the ids either way round."""
    while True:
        order = RANDOM.sample(ids, len(ids))
        if order not in (sorted(ids), sorted(ids, reverse=True)):
            return order


@check("restart-survives", "documents POSTed in one process come back, newest first, from a freshly started one")
def restart_survives(learner, migrated, db, sql):
    start = migrated
    titles = [drawn_title() for _ in range(3)]
    results = learner.run(
        fresh_process, "post", "the first process (import main, POST three documents)", json.dumps(titles)
    )
    if not isinstance(results, list):
        results = []
    ids = []
    for title, result in zip(titles, results, strict=False):
        status, body = result if isinstance(result, list) and len(result) == 2 else (0, str(result))
        call = f"POST /documents?title={title}&body=..."
        if not isinstance(status, int) or not 200 <= status < 300:
            fail(describe_status(status, str(body), call))
        try:
            data = json.loads(body)
        except (TypeError, ValueError):
            fail(f"{call} did not return JSON: {str(body)[:200]!r}")
        if not isinstance(data, dict) or isinstance(data.get("id"), bool) or not isinstance(data.get("id"), int):
            hint = ""
            if data == {}:
                hint = (
                    " — an empty object: after db.commit() the document is expired; call db.refresh(doc) before "
                    "returning it, or declare a response_model"
                )
            fail(f"{call} returned {str(body)[:200]}{hint}; it must return the created document with its integer id")
        ids.append(data["id"])
    with db.connect() as conn:
        stored = conn.execute(text("SELECT id, title FROM documents ORDER BY id")).all()
    if not stored and sequence_used(db, start):
        fail(
            "the first process POSTed three documents and got 2xx answers, but the documents table is empty: the "
            "INSERTs were sent (Postgres handed out their ids) and then rolled back, because nothing committed "
            "them. db.flush() (or db.add() alone) is not enough: call db.commit() in the POST route"
        )
    if not stored:
        fail(
            "the first process POSTed three documents and got 2xx answers, but the documents table is empty and "
            "no INSERT ever reached Postgres: the app keeps them in memory, and they vanish when the process "
            "ends. What must outlive a restart goes into the database, through the request's session. "
            + fix_or_hint(learner, HERE, "Store them with the session from get_db: db.add(Document(...)), db.commit()")
        )
    if len(ids) != len(titles) or sorted(row.id for row in stored) != sorted(ids):
        fail(
            f"the POSTs returned ids {ids}, but the documents table holds ids {[row.id for row in stored]}: return "
            "the id Postgres gave each row (db.refresh(doc) after db.commit())"
        )
    if sorted(row.title for row in stored) != sorted(titles):
        fail(f"the POSTs sent the titles {titles}, but the documents table holds {[row.title for row in stored]}")
    # creation times that disagree with the ids (the grader's own connection), drawn for this run
    newest_first = creation_order(sorted(ids))
    days = sorted(RANDOM.sample(range(1, 60), len(ids)))
    ago_of = dict(zip(newest_first, days, strict=False))
    # updated in id order: a query without ORDER BY then reads the rows in id order, never newest first
    with step("setting documents.created_at (the grader's own UPDATE)", "your revision"), db.begin() as conn:
        for doc_id, ago in sorted(ago_of.items()):
            conn.execute(
                text("UPDATE documents SET created_at = now() - make_interval(days => :ago) WHERE id = :id"),
                {"ago": ago, "id": doc_id},
            )
    with sql.capture() as log:
        answer = learner.run(fresh_process, "get", "the second process (import main, GET /documents)")
    status, body, sent = answer if isinstance(answer, list) and len(answer) == 3 else (0, str(answer), [])
    if not isinstance(status, int) or not 200 <= status < 300:
        fail(describe_status(status, str(body), "GET /documents (in the second process)"))
    try:
        listed = json.loads(body)
    except (TypeError, ValueError):
        fail(f"GET /documents did not return JSON: {str(body)[:200]!r}")
    if not isinstance(listed, list) or not all(isinstance(item, dict) for item in listed):
        fail(f"GET /documents returned {str(body)[:200]}; it must return a JSON list of documents")
    got = [item.get("id") for item in listed]
    if not got:
        fail(
            "a freshly started process answered GET /documents with [] although Postgres holds the three documents "
            "the first process created: the GET route must read them from the database, "
            "db.scalars(select(Document).order_by(Document.created_at.desc())).all()"
        )
    if sorted(got) != sorted(ids):
        fail(f"after the restart GET /documents returned ids {got}; the documents created were {ids}")
    if got != newest_first:
        reads = [s for s in log.selects if s.shape.touches("documents")]
        sql.flag(reads[:1], "the documents query")
        if reads:
            ordering = first_order_by(log, "documents")
        else:  # no statement log on this server (url, docker): the second process's own word, as a hint
            said = [Shape(str(q)) for q in (sent if isinstance(sent, list) else [])]
            ordering = next((q.order_by for q in said if q.kind == "SELECT" and q.touches("documents")), None)
        fix = ".order_by(Document.created_at.desc())"
        fail(
            f"after the restart GET /documents returned ids {got}; by created_at (the grader gave the documents "
            f"creation times that are not in id order), newest first is {newest_first}. "
            + ordering_mistake(ordering, "created_at", True, fix)
        )


@fixture
def pool(learner):
    """db.engine's pool empty at the start, the witness's collector off until the check ends."""
    yield from held_pool(learner, fresh_pool, release)


@check("sessions-closed", "get_db closes every request's session, also when the route raises")
def sessions_closed(learner, migrated, pool, db, sql):
    titles = [drawn_title() for _ in range(5)]
    marker = "grader-" + secrets.token_hex(8)
    with sql.capture() as log:
        got = shaped(
            learner.run(requests_then_raise, titles, marker), ("after", "boom", "left", "reached", "where"), "the requests"
        )
    where = got["where"]
    left = max(count(got["left"]), open_transactions(db))
    if left:
        what = (
            "a route the grader added (it uses the session, then raises HTTPException(404))"
            if got["boom"] or open_transactions(db, marker)
            else (got["after"] or "the requests")
        )
        fail(
            f"after {what}, {left} connection(s) were still checked out of db.engine's pool: the "
            f"request's session was not closed ({where}). If the route raised, the exception reappears "
            f"at the yield in get_db, so only a finally block is sure to run: `{FIX_GET_DB}`"
        )
    if not got["reached"] or not any(marker in s.sql for s in log):
        fail(
            "a route the grader added to your app, depending on get_db, sent Postgres nothing through the session "
            f"get_db gave it: get_db must yield a Session from SessionLocal() ({where})"
        )
