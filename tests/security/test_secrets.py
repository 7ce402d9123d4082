"""No secret reaches a process that runs learner code: not in its objects, its environment, its
arguments, nor in the readable memory of the processes it descends from."""

from __future__ import annotations

import os
import re

import psycopg

from checker.process.runner import grade
from security.conftest import statuses, submission

# Learner code that looks for database URLs and passwords everywhere it can read, then tries
# every one it found.
SCAVENGER = r"""
import gc, os, re

PATTERN = re.compile(rb"postgresql(?:\+psycopg)?://[^\s'\"<>]+|password='[^']*'")
found = set()

def scan(data):
    for match in PATTERN.findall(data):
        found.add(match.decode("latin-1"))

for obj in gc.get_objects():
    if isinstance(obj, (str, bytes)):
        scan(obj.encode("latin-1", "replace") if isinstance(obj, str) else obj)
    elif isinstance(obj, dict):
        scan(repr(list(obj.items())[:200]).encode("latin-1", "replace"))
scan(repr(dict(os.environ)).encode())
for pid in os.listdir("/proc"):
    if not pid.isdigit():
        continue
    for name in ("environ", "cmdline"):
        try:
            with open(f"/proc/{pid}/{name}", "rb") as handle:
                scan(handle.read().replace(b"\0", b" "))
        except OSError:
            pass
    try:  # every process's readable memory: ours, our parent's (the worker), the runner's
        with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
            for line in maps:
                span, perms = line.split()[:2]
                if "r" not in perms or "[vvar]" in line or "[vsyscall]" in line:
                    continue
                start, end = (int(x, 16) for x in span.split("-"))
                if end - start > 256 << 20:
                    continue
                try:
                    mem.seek(start)
                    scan(mem.read(end - start))
                except (OSError, ValueError, OverflowError):
                    pass
    except OSError:
        pass

def run():
    print("FOUND", sorted(found))
"""


def test_no_password_but_its_own_in_any_memory_learner_code_can_read(submissions, class_session, class_launcher):
    # a second submission is graded first, so its role and password existed in this session
    other = grade(submission(submissions, "other", "def run():\n    pass\n"), class_session, launcher=class_launcher)
    assert statuses(other)["first"] == "pass"
    result = grade(submission(submissions, "scavenger", SCAVENGER, timeout=60), class_session, launcher=class_launcher)
    assert statuses(result)["first"] == "pass", result.checks[0].message
    found = result.output
    admin = class_session.server.admin.password
    assert admin and admin not in found, "learner code found the superuser's password"
    # the only password it may know is its own role's: every URL it found names that role
    # (a role name is a plain identifier; SQLAlchemy's own repr masks a password as ***)
    roles = set(re.findall(r"://(\w+):(?!\*\*\*@)[^@'\s\\]+@", found))
    assert len(roles) <= 1, f"learner code found the passwords of several roles: {roles}"


def test_the_superuser_cannot_be_reached_with_anything_learner_code_holds(submissions, class_session, class_launcher):
    source = f"""
import psycopg
def run():
    outcomes = []
    for target in ({class_session.server.admin.host!r}, "127.0.0.1"):
        for user in ("postgres", "root"):
            try:
                psycopg.connect(host=target, port={class_session.server.admin.port}, user=user, dbname="postgres",
                                connect_timeout=3).close()
                outcomes.append(f"CONNECTED {{user}}@{{target}}")
            except Exception as error:
                outcomes.append(f"refused {{user}}@{{target}}: {{str(error).splitlines()[0][:80]}}")
    print("\\n".join(outcomes))
"""
    result = grade(submission(submissions, "superuser", source), class_session, launcher=class_launcher)
    assert "CONNECTED" not in result.output, result.output
    assert "refused" in result.output


def test_a_spare_database_of_the_next_submission_is_sealed_from_the_start(submissions, class_session, class_launcher):
    """Its role alone may connect, from the moment it exists (the server's own rules, not a REVOKE
    that comes after the CREATE)."""
    spare = class_session.create_database()
    try:
        theirs = class_session.learner_params(spare)
        source = f"""
import os, psycopg
from sqlalchemy.engine import make_url
def run():
    url = make_url(os.environ["DATABASE_URL"])
    try:
        psycopg.connect(host=url.query.get("host", url.host), port=url.port, user=url.username, password=url.password,
                        dbname={spare!r}, connect_timeout=3).close()
        print("CONNECTED to the spare")
    except Exception as error:
        print("refused:", str(error).splitlines()[0])
"""
        result = grade(submission(submissions, "spare", source), class_session, launcher=class_launcher)
        assert "CONNECTED" not in result.output and "refused" in result.output, result.output
        with psycopg.connect(theirs.conninfo(), autocommit=True) as conn:  # its own role still may
            assert conn.execute("SELECT current_database()").fetchone()[0] == spare
    finally:
        class_session.drop_database(spare)


def test_a_submission_cannot_plant_anything_for_the_next_one(submissions, class_session, class_launcher):
    planter = """
import os
from sqlalchemy import create_engine, text
def run():
    engine = create_engine(os.environ["DATABASE_URL"])
    attempts = {
        "event trigger": "CREATE FUNCTION stop() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'no'; END $$;"
                         "CREATE EVENT TRIGGER stop ON ddl_command_start EXECUTE FUNCTION stop()",
        "program": "COPY (SELECT 1) TO PROGRAM 'touch /tmp/pwned'",
        "role": "CREATE ROLE intruder LOGIN SUPERUSER",
        "database": "CREATE DATABASE intruder",
        "template": "ALTER DATABASE template1 SET search_path = evil",
    }
    for what, sql in attempts.items():
        try:
            with engine.begin() as conn:
                conn.execute(text(sql))
            print("DONE", what)
        except Exception as error:
            print("refused", what, str(error).splitlines()[0][:80])
"""
    result = grade(submission(submissions, "planter", planter), class_session, launcher=class_launcher)
    assert "DONE" not in result.output, result.output
    assert not os.path.exists("/tmp/pwned")
    after = grade(submission(submissions, "after", "ANSWER = 42\ndef run():\n    pass\n"), class_session, launcher=class_launcher)
    assert after.status == "pass", [c.message for c in after.checks]
