"""Instructor tools: new-module, content roots, and grading a class with submissions kept apart."""

from __future__ import annotations

import functools
import json
import os
import shutil
import xml.etree.ElementTree as ET

import psycopg
import pytest

from checker.process.launch import WarmWorker
from course.content.model import content_roots, load_content, load_modules
from course.grading.classgrade import ResultsLog, grade_workspaces, to_json, to_junit
from course.learner.workspace import Workspace
from course.postgres.session import open_session

from conftest import course

cli = functools.partial(course, timeout=300)
"""The real `course` command in a subprocess, with a class run's longer timeout."""


def test_new_module_validates_clean_and_can_be_checked_at_once(tmp_path):
    root = tmp_path / "content"
    made = cli("new-module", "demo", "--path", str(root))
    assert made.returncode == 0, made.stderr
    validated = cli("validate", str(root))
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "no problems found" in validated.stdout
    checked = cli("--content", str(root), "check", "demo/01-first-model", "--solution")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert cli("new-module", "demo", "--path", str(root)).returncode == 2  # never overwrites


def test_content_roots_from_the_environment_and_a_broken_root_does_not_hide_the_others(tmp_path):
    good = tmp_path / "good"
    assert cli("new-module", "extra", "--path", str(good)).returncode == 0
    broken = tmp_path / "broken"
    (broken / "lessons" / "bad").mkdir(parents=True)
    (broken / "lessons" / "bad" / "module.toml").write_text("id = \n", encoding="utf-8")
    os.environ["COURSE_PATH"] = os.pathsep.join([str(good), str(broken)])
    try:
        modules, problems = load_content(content_roots())
    finally:
        del os.environ["COURSE_PATH"]
    assert [m.id for m in modules] == ["sqlalchemy-2", "extra"]
    assert len(problems) == 1 and "module.toml:1" in str(problems[0])
    listing = cli("list", "--json", env={"COURSE_PATH": os.pathsep.join([str(good), str(broken)])}, cwd=tmp_path)
    assert listing.returncode == 0
    assert "skipping broken content" in listing.stderr and "module.toml:1" in listing.stderr
    assert [m["id"] for m in json.loads(listing.stdout)] == ["sqlalchemy-2", "extra"]


HOSTILE_DB = '''
"""A hostile submission: tries to reach every other course_ database before doing the work."""
import json
import os

import psycopg
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

from models import User

url = make_url(os.environ["DATABASE_URL"])
mine = url.database
attempts = []
with psycopg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False)) as conn:
    others = [row[0] for row in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'course%%' AND datname <> %s", (mine,))]
    roles = [row[0] for row in conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 'course%%' OR rolname = 'postgres'")]
for database in others:
    for role in [url.username, *roles]:
        password = url.password if role == url.username else None
        target = url.set(drivername="postgresql", database=database, username=role, password=password)
        try:
            with psycopg.connect(target.render_as_string(hide_password=False), connect_timeout=3) as conn:
                secret = conn.execute("SELECT string_agg(secret, ',') FROM secrets").fetchone()
            attempts.append({"db": database, "role": role, "reached": True, "secret": secret})
        except Exception as error:
            attempts.append({"db": database, "role": role, "reached": False, "error": str(error)[:80]})
with open("attempts.json", "w") as handle:
    json.dump(attempts, handle)

engine = create_engine(os.environ["DATABASE_URL"])
SessionLocal = sessionmaker(bind=engine)


def add_user(email, name=None):
    with SessionLocal() as session:
        user = User(email=email, name=name)
        session.add(user)
        session.commit()
        return user.id
'''


@pytest.fixture(scope="module")
def isolated():
    session = open_session("embedded", isolate=True)
    yield session
    session.close()


def test_grade_a_class_with_a_hostile_submission(tmp_path, isolated):
    module = load_modules()[0]
    exercises = [e for e in module.exercises if e.id in ("02-models", "03-engine-session")]
    workspaces = {}
    for name in ("complete", "partial", "hostile"):
        workspace = Workspace(tmp_path / name)
        workspace.init([module])
        workspace.close()
        workspaces[name] = workspace.root
    for exercise in exercises:
        shutil.copytree(exercise.solution_dir, workspaces["complete"] / exercise.module_id / exercise.id, dirs_exist_ok=True)
    shutil.copytree(exercises[0].solution_dir, workspaces["partial"] / "sqlalchemy-2" / "02-models", dirs_exist_ok=True)
    (workspaces["hostile"] / "sqlalchemy-2" / "03-engine-session" / "db.py").write_text(HOSTILE_DB, encoding="utf-8")

    # another submission's database holding data the hostile code must not see
    victim = isolated.create_database()
    with psycopg.connect(isolated.learner_params(victim).conninfo(), autocommit=True) as conn:
        conn.execute("CREATE TABLE secrets (secret text)")
        conn.execute("INSERT INTO secrets VALUES ('the answers')")

    worker = WarmWorker()
    try:
        # one job: every submission on the server holding the victim (with --jobs N each concurrent
        # job has a server of its own, where the victim would not even be visible)
        submissions = grade_workspaces(list(workspaces.values()), exercises, isolated, worker, jobs=1)
    finally:
        worker.close()
        isolated.drop_database(victim)

    by_name = {s.name: {r.exercise.split("/")[1]: r.status for r in s.results} for s in submissions}
    assert by_name["complete"] == {"02-models": "pass", "03-engine-session": "pass"}
    assert by_name["partial"] == {"02-models": "pass", "03-engine-session": "fail"}
    assert by_name["hostile"]["03-engine-session"] == "pass"  # the work itself is correct

    attempts = json.loads(
        (workspaces["hostile"] / "sqlalchemy-2" / "03-engine-session" / "attempts.json").read_text(encoding="utf-8")
    )
    assert any(a["db"] == victim for a in attempts), "the victim database was visible by name and tried"
    assert not [a for a in attempts if a["reached"]], attempts

    report = to_json(submissions)
    assert [s["student"] for s in report["students"]] == ["complete", "partial", "hostile"]
    assert report["students"][1]["passed"] == 1
    suites = ET.fromstring(to_junit(submissions))
    assert len(suites.findall("testsuite")) == 3
    partial = next(s for s in suites.findall("testsuite") if s.get("name") == "partial")
    assert partial.get("tests") == "2" and partial.get("failures") == "1"
    failing = next(c for c in partial.findall("testcase") if c.get("name") == "sqlalchemy-2/03-engine-session")
    assert failing.find("failure") is not None and "add-user" in failing.find("failure").text


def test_grade_cli_writes_json_and_junit(tmp_path):
    module = load_modules()[0]
    workspace = Workspace(tmp_path / "alice")
    workspace.init([module])
    workspace.close()
    exercise = next(e for e in module.exercises if e.id == "02-models")
    shutil.copytree(exercise.solution_dir, tmp_path / "alice" / "sqlalchemy-2" / "02-models", dirs_exist_ok=True)
    result = cli(
        "grade",
        str(tmp_path / "alice"),
        "--exercise",
        "02",
        "--exercise",
        "03",
        "--json",
        str(tmp_path / "r.json"),
        "--junit",
        str(tmp_path / "r.xml"),
    )
    assert result.returncode == 1, result.stdout + result.stderr  # 03 is still the starter
    data = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert [r["status"] for r in data["students"][0]["results"]] == ["pass", "fail"]
    assert ET.parse(tmp_path / "r.xml").getroot().find("testsuite").get("failures") == "1"
    assert "alice" in result.stdout
    lines = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text(encoding="utf-8").splitlines()]  # beside --json
    assert oct((tmp_path / "r.jsonl").stat().st_mode & 0o777) == "0o600"
    assert sorted((line["student"], line["exercise"], line["result"]["status"]) for line in lines) == [  # as they came
        ("alice", "sqlalchemy-2/02-models", "pass"),
        ("alice", "sqlalchemy-2/03-engine-session", "fail"),
    ]
    assert lines[0]["workspace"] == str((tmp_path / "alice").resolve())


def test_resume_grades_again_only_the_submissions_that_changed(tmp_path, isolated):
    module = load_modules()[0]
    exercises = [e for e in module.exercises if e.id in ("02-models", "03-engine-session")]
    workspace = Workspace(tmp_path / "amy")
    workspace.init([module])
    workspace.close()
    shutil.copytree(exercises[0].solution_dir, workspace.root / "sqlalchemy-2" / "02-models", dirs_exist_ok=True)
    path = tmp_path / "results.jsonl"

    def run(resume: bool):
        log = ResultsLog(path, resume=resume)
        worker = WarmWorker()
        try:
            return log, grade_workspaces([workspace.root], exercises, isolated, worker, jobs=2, log=log)
        finally:
            worker.close()
            log.close()

    _, first = run(resume=False)
    assert [r.status for r in first[0].results] == ["pass", "fail"]
    written = path.read_bytes()
    assert written.count(b"\n") == 2

    log, again = run(resume=True)  # nothing changed (the caches grading left do not count)
    assert log.resumed == 2 and path.read_bytes() == written
    assert [r.to_json() for r in again[0].results] == [r.to_json() for r in first[0].results]

    shutil.copytree(exercises[1].solution_dir, workspace.root / "sqlalchemy-2" / "03-engine-session", dirs_exist_ok=True)
    log, changed = run(resume=True)
    assert log.resumed == 1
    assert path.read_bytes().startswith(written) and path.read_bytes().count(b"\n") == 3
    assert [r.status for r in changed[0].results] == ["pass", "pass"]  # the new line wins
    with pytest.raises(Exception, match="already holds results"):
        ResultsLog(path, resume=False)  # a new run never overwrites an earlier one's results


@pytest.mark.posix
def test_grade_refuses_a_results_file_it_cannot_use_and_leaves_it_alone(tmp_path):
    workspace = tmp_path / "bob"
    workspace.mkdir()
    earlier = tmp_path / "grade-results.jsonl"  # the default when there is no --json
    earlier.write_text(
        '{"workspace": "/somewhere", "exercise": "sqlalchemy-2/02-models", "fingerprint": "x", "result": {}}\n', encoding="utf-8"
    )
    refused = cli("grade", str(workspace), "--exercise", "02", cwd=tmp_path)
    assert refused.returncode == 2 and "already holds results of an earlier run" in refused.stderr, refused.stderr
    assert "--resume" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1

    notes = tmp_path / "notes.txt"
    notes.write_text("grades for week 3\nann: 10\nben: 9", encoding="utf-8")  # not ours, and no newline at the end
    notes.chmod(0o644)
    for resume in ([], ["--resume"]):
        result = cli("grade", str(workspace), "--exercise", "02", "--results", str(notes), *resume, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert notes.read_text(encoding="utf-8") == "grades for week 3\nann: 10\nben: 9"
        assert notes.stat().st_mode & 0o777 == 0o644
    assert f"{notes}:1 is not a `course grade` result line" in result.stderr

    import fcntl  # unix: where runs lock their results file

    busy = tmp_path / "busy.jsonl"  # another run is writing it (this test holds its lock)
    with open(busy, "a", encoding="utf-8") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        result = cli("grade", str(workspace), "--exercise", "02", "--results", str(busy), "--resume", cwd=tmp_path)
    assert result.returncode == 2 and "another `course grade` is writing" in result.stderr, result.stderr

    clash = cli("grade", str(workspace), "--json", str(tmp_path / "r.json"), "--results", str(tmp_path / "r.json"), cwd=tmp_path)
    assert clash.returncode == 2 and "--json and --results both name" in clash.stderr


def test_the_url_backend_only_touches_its_own_databases(tmp_path, databases):
    """A separately started server, reached by URL: our databases come and go, others stay."""
    server = databases.server
    admin = server.admin
    with psycopg.connect(admin.conninfo(), autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS someone_elses")
        conn.execute("CREATE DATABASE someone_elses")
    from urllib.parse import quote

    from course.postgres.session import JUDGE_SUFFIX

    url = f"postgresql://{admin.user}:{quote(admin.password or '', safe='')}@/postgres?host={admin.host}&port={admin.port}"
    try:
        result = cli(
            "check", "03", "--solution", "--json", env={"COURSE_WORKSPACE": str(tmp_path / "ws"), "COURSE_DATABASE_URL": url}
        )
        assert result.returncode == 0, result.stdout + result.stderr
        with psycopg.connect(admin.conninfo(), autocommit=True) as conn:
            names = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
            roles = {row[0] for row in conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 'course%'")}
        assert "someone_elses" in names
        mine = {n for n in names if n.startswith("course_")} - {n for n in names if n.startswith(f"course_{databases.id}")}
        assert mine == set(), f"left behind: {mine}"
        assert roles <= {databases.role, databases.role + JUDGE_SUFFIX}, roles  # this test session's own: nothing left
    finally:
        with psycopg.connect(admin.conninfo(), autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS someone_elses")


def test_exec_on_a_url_server_without_createdb_says_how_to_get_a_dev_database(tmp_path, databases):
    """`course exec` on a server where the user may not create databases: one line, the cause and
    the fix, exit 2 (no traceback), and nothing created."""
    admin = databases.server.admin
    with psycopg.connect(admin.conninfo(), autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS course_test_nocreate")
        conn.execute("CREATE ROLE course_test_nocreate LOGIN PASSWORD 'pw-nocreate' NOCREATEDB")
    url = f"postgresql://course_test_nocreate:pw-nocreate@/postgres?host={admin.host}&port={admin.port}"
    try:
        result = cli("exec", "03", "--", "true", env={"COURSE_WORKSPACE": str(tmp_path / "ws"), "COURSE_DATABASE_URL": url})
        assert result.returncode == 2, result.stdout + result.stderr
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert "Traceback" not in result.stderr, result.stderr
        assert any("cannot create the dev database" in line and "fix:" in line for line in lines), result.stderr
        with psycopg.connect(admin.conninfo(), autocommit=True) as conn:
            assert conn.execute("SELECT 1 FROM pg_database WHERE datname LIKE 'course_dev_%03%'").fetchone() is None
    finally:
        with psycopg.connect(admin.conninfo(), autocommit=True) as conn:
            conn.execute("DROP ROLE IF EXISTS course_test_nocreate")


def test_an_installed_package_publishes_a_module_through_its_entry_point(tmp_path, monkeypatch):
    """A distribution on sys.path with a `course.content` entry point is found without importing it."""
    site = tmp_path / "site"
    assert cli("new-module", "packaged", "--path", str(site / "course_module_packaged")).returncode == 0
    info = site / "course_module_packaged-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: course-module-packaged\nVersion: 0.1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[course.content]\npackaged = course_module_packaged\n", encoding="utf-8")
    (site / "course_module_packaged" / "__init__.py").write_text(
        "raise RuntimeError('content packages are never imported')\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(site))
    modules, problems = load_content(content_roots())
    assert problems == []
    assert [m.id for m in modules] == ["sqlalchemy-2", "packaged"]
    listing = cli("list", "--json", env={"PYTHONPATH": str(site)}, cwd=tmp_path)
    assert [m["id"] for m in json.loads(listing.stdout)] == ["sqlalchemy-2", "packaged"], listing.stderr
