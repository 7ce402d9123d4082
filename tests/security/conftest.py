"""Fixtures of the attack tests: a class-grading session (a database and a role per submission,
on a server of its own) and graders started the way ``course grade`` starts them."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from checker.process.launch import WarmWorker, class_confinement
from checker.wire import GradingJob

CHECKS = """
from checker import check

@check("first", "the learner function runs")
def first(learner):
    learner.mod.run()

@check("second", "a second check the starter fails")
def second(learner):
    assert getattr(learner.mod, "ANSWER", None) == 42, "ANSWER must be 42"
"""


@pytest.fixture(scope="module")
def class_session():
    from course.postgres.session import open_session

    session = open_session("embedded", isolate=True, spares=2)
    yield session
    session.close()


@pytest.fixture(scope="module")
def submissions(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("submissions")


@pytest.fixture(scope="module")
def class_launcher(submissions, class_session):
    """A warm worker as ``course grade`` makes it: confined children where this is root, a clean
    environment, prepared children for the spares."""
    from course import locations
    from course.grading.session import pair

    confinement = class_confinement([submissions, locations.state_dir(), locations.servers_dir()])
    worker = WarmWorker(confinement=confinement, clean_environment=True)
    pair(class_session, worker)
    yield worker
    worker.close()


def submission(root: Path, name: str, source: str, checks: str = CHECKS, timeout: float = 8) -> GradingJob:
    folder = root / name / "exercise"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mod.py").write_text(textwrap.dedent(source), encoding="utf-8")
    checks_file = root / "content" / "exercises" / "test" / name / "checks.py"
    checks_file.parent.mkdir(parents=True, exist_ok=True)
    checks_file.write_text(checks, encoding="utf-8")
    return GradingJob(f"test/{name}", checks_file, folder, ["mod"], check_timeout_s=timeout)


def starter_with(root: Path, exercise, name: str, into: str, code: str) -> Path:
    """A copy of ``exercise``'s untouched starter in ``root/name/<exercise id>``, with ``code``
    appended to its file ``into``: what a hostile learner submits."""
    import shutil

    folder = root / name / exercise.id
    shutil.copytree(exercise.starter_dir, folder, dirs_exist_ok=True)
    path = folder / into
    path.write_text(path.read_text(encoding="utf-8") + "\n\n" + textwrap.dedent(code), encoding="utf-8")
    return folder


def statuses(result) -> dict[str, str]:
    return {c.name: c.status for c in result.checks}
