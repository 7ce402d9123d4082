"""The one wire definition (``checker.wire``): a job reads back as itself or not at all, the
report's kinds are one enum on both sides, a result carries its SQL once on the wire, and the
public ``course check --json`` shape stays what README documents."""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import select
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from checker.process import platform
from checker.process.channel import sign
from checker.process.runner import Tampered, _Protocol
from checker.results import CheckResult, ExerciseResult, StatementView
from checker.wire import Event, GradingJob, WireError


def a_job(tmp_path: Path) -> GradingJob:
    return GradingJob(
        "sqlalchemy-2/05-relationships",
        tmp_path / "checks.py",
        tmp_path / "learner",
        ["models", "queries"],
        check_timeout_s=7.5,
        only=["navigate-both-ways"],
    )


def test_a_job_round_trips_through_json(tmp_path):
    job = a_job(tmp_path)
    again = GradingJob.from_json(json.loads(json.dumps(job.to_json())))
    assert again == job
    assert isinstance(again.checks_file, Path) and again.modules == ("models", "queries")
    assert GradingJob.from_json(dataclasses.replace(job, only=()).to_json()).only == ()


def old_runner_job(tmp_path: Path) -> dict:
    """What the runner sent a worker before there was one job shape."""
    return {
        "learner_dir": str(tmp_path),
        "checks_file": str(tmp_path / "checks.py"),
        "modules": ["mod"],
        "database": "course_1",
        "only": [],
    }


@pytest.mark.parametrize(
    "shape", ["old-runner-job", "confinement-inside", "missing-modules", "modules-a-string", "timeout-a-string", "a-list"]
)
def test_a_job_of_another_shape_is_refused_with_the_reason(shape, tmp_path):
    good = a_job(tmp_path).to_json()
    data, reason = {
        "old-runner-job": (
            old_runner_job(tmp_path),
            "unknown field(s) 'database'; missing field(s) 'exercise', 'check_timeout_s'",
        ),
        "confinement-inside": ({**good, "confinement": {"hidden": []}}, "unknown field(s) 'confinement'"),
        "missing-modules": ({k: v for k, v in good.items() if k != "modules"}, "missing field(s) 'modules'"),
        "modules-a-string": ({**good, "modules": "models"}, "'modules' must be a list of strings"),
        "timeout-a-string": ({**good, "check_timeout_s": "10"}, "'check_timeout_s' must be a positive number"),
        "a-list": ([good], "a grading job is a JSON object, not list"),
    }[shape]
    with pytest.raises(WireError) as raised:
        GradingJob.from_json(data)
    assert reason in str(raised.value)


@pytest.mark.skipif(not platform.can_fork_workers(), reason="the forking worker exists only where fork and fd passing do")
def test_a_worker_sent_an_old_shaped_job_refuses_it_in_a_signed_report(tmp_path):
    """Nothing is half-read on the far side either: the child reports a signed grader-error."""
    from checker.process.launch import WarmWorker, _secret_pipe

    worker = WarmWorker(warm=False)
    key = secrets.token_bytes(32)
    read_fd, write_fd = os.pipe()
    secret_fd = _secret_pipe({"database_url": "postgresql://nobody@127.0.0.1:1/none", "key": key.hex()})
    try:
        with tempfile.TemporaryFile() as output:
            with worker._lock:
                worker._await_ready()
                socket.send_fds(
                    worker._socket,
                    [json.dumps({"job": old_runner_job(tmp_path)}).encode()],
                    [write_fd, output.fileno(), secret_fd],
                )
            os.close(write_fd)
            os.close(secret_fd)
            report, deadline = b"", time.monotonic() + 30
            while time.monotonic() < deadline:
                ready, _, _ = select.select([read_fd], [], [], 0.5)
                if ready:
                    chunk = os.read(read_fd, 65536)
                    if not chunk:
                        break
                    report += chunk
    finally:
        os.close(read_fd)
        worker.close()
    lines = report.splitlines()
    assert len(lines) == 1, report
    kind, event = _Protocol(key, tmp_path / "checks.py", [], {}).read(lines[0])
    assert kind is Event.GRADER_ERROR
    assert "cannot read" in event["message"] and "missing field(s) 'exercise'" in event["message"], event


def signed(key: bytes, events: list[dict]) -> list[bytes]:
    lines = []
    for number, event in enumerate(events):
        payload = json.dumps({**event, "n": number}).encode()
        lines.append(sign(key, number, payload).encode() + b" " + payload)
    return lines


def test_the_runner_reads_the_kinds_the_harness_sends_and_no_other(tmp_path):
    key = secrets.token_bytes(32)
    checks = tmp_path / "checks.py"
    checks.write_text('from checker import check\n\n@check("one", "one check")\ndef one():\n    pass\n', encoding="utf-8")
    result = CheckResult("one", "pass", title="one check", statements=[StatementView("SELECT 1")]).to_wire()
    report = signed(
        key,
        [
            {"type": Event.CHECKS, "checks": [{"name": "one", "title": "one check", "timeout": None}]},
            {"type": Event.IMPORTING, "module": "mod"},
            {"type": Event.START, "name": "one"},
            {"type": Event.RESULT, **result},
            {"type": Event.DONE},
        ],
    )
    protocol = _Protocol(key, checks, [], {})
    kinds = [protocol.read(line)[0] for line in report]
    assert kinds == [Event.CHECKS, Event.IMPORTING, Event.START, Event.RESULT, Event.DONE]
    assert b'"type": "result"' in report[3]  # a str enum: plain JSON on the wire

    unknown = signed(key, [{"type": "verdict", "status": "pass"}])[0]
    with pytest.raises(Tampered, match="out of sequence"):
        _Protocol(key, checks, [], {}).read(unknown)
    half = signed(
        key,
        [
            {"type": Event.CHECKS, "checks": [{"name": "one", "title": "", "timeout": None}]},
            {"type": Event.START, "name": "one"},
            {"type": Event.RESULT, "name": "one", "status": "pass"},
        ],
    )  # no statements, no title: fine
    protocol = _Protocol(key, checks, [], {})
    *_, (kind, event) = [protocol.read(line) for line in half]
    # checks run beside the learner's code: their results are its word
    assert protocol.result(event) == CheckResult("one", "pass", evidence="testimony")


def a_result() -> ExerciseResult:
    views = [
        StatementView("SELECT users.id FROM users", 1, "queries.py:7", None, False),
        StatementView(
            "SELECT documents.id FROM documents WHERE %(param_1)s = documents.owner_id",
            3,
            "queries.py:9",
            "lazy load of User.documents",
            True,
        ),
    ]
    checks = [
        CheckResult("no-n-plus-one", "fail", "3 queries for 3 users", "one query, however many users", views, 0.12345),
        CheckResult("runs", "pass", "", "it runs", [], 0.01),
    ]
    return ExerciseResult("sqlalchemy-2/05-relationships", "fail", 1.23456, checks, "hello\n")


DOCUMENTED = """{
  "exercise": "sqlalchemy-2/05-relationships",
  "status": "fail",
  "duration_s": 1.235,
  "checks": [
    {
      "name": "no-n-plus-one",
      "status": "fail",
      "message": "3 queries for 3 users",
      "title": "one query, however many users",
      "sql": [
        "SELECT users.id FROM users",
        "SELECT documents.id FROM documents WHERE %(param_1)s = documents.owner_id"
      ],
      "statements": [
        {
          "sql": "SELECT users.id FROM users",
          "count": 1,
          "location": "queries.py:7",
          "note": null,
          "flagged": false
        },
        {
          "sql": "SELECT documents.id FROM documents WHERE %(param_1)s = documents.owner_id",
          "count": 3,
          "location": "queries.py:9",
          "note": "lazy load of User.documents",
          "flagged": true
        }
      ],
      "duration_s": 0.123,
      "evidence": "evidence"
    },
    {
      "name": "runs",
      "status": "pass",
      "message": "",
      "title": "it runs",
      "sql": [],
      "statements": [],
      "duration_s": 0.01,
      "evidence": "evidence"
    }
  ],
  "output": "hello\\n"
}"""
"""``course check --json`` as it printed before the wire was unified (README documents it), with the one key
added since, last: each check's ``evidence`` (issue 22)."""


def test_the_public_json_is_byte_for_byte_what_it_was():
    assert json.dumps(a_result().to_json(), indent=2) == DOCUMENTED


def test_a_result_holds_its_sql_once_and_sends_it_once():
    result = a_result()
    assert "sql" not in {f.name for f in dataclasses.fields(CheckResult)}
    assert result.checks[0].sql == [view.sql for view in result.checks[0].statements]
    wire = result.to_wire()
    assert all("sql" not in check for check in wire["checks"])
    assert json.dumps(wire).count("FROM documents WHERE") == 1
    assert (
        ExerciseResult.from_json(wire)
        == ExerciseResult.from_json(result.to_json())
        == ExerciseResult.from_json(json.loads(DOCUMENTED))
    )
    assert ExerciseResult.from_json(wire).to_json() == result.to_json()


def test_a_result_of_another_shape_is_refused():
    with pytest.raises(WireError, match="not a check result"):
        ExerciseResult.from_json({**a_result().to_wire(), "checks": [{"status": "pass"}]})
    with pytest.raises(WireError, match="pass, fail or error"):
        CheckResult.from_json({"name": "x", "status": "passed"})


def test_course_check_json_keeps_its_documented_keys(tmp_path):
    """The real command: the keys README documents, in the order it always printed them."""
    command = Path(sys.executable).with_name("course")
    env = {**os.environ, "COURSE_WORKSPACE": str(tmp_path / "ws")}
    run = subprocess.run(
        [str(command), "check", "05", "--solution", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        encoding="utf-8",
    )
    assert run.returncode == 0, run.stdout + run.stderr
    data = json.loads(run.stdout)
    assert list(data) == ["exercise", "status", "duration_s", "checks", "output"]
    assert data["exercise"] == "sqlalchemy-2/05-relationships" and data["status"] == "pass"
    assert any(check["statements"] for check in data["checks"])
    for check in data["checks"]:
        assert list(check) == ["name", "status", "message", "title", "sql", "statements", "duration_s", "evidence"]
        assert check["evidence"] in ("evidence", "testimony")
        assert check["sql"] == [statement["sql"] for statement in check["statements"]]
        for statement in check["statements"]:
            assert list(statement) == ["sql", "count", "location", "note", "flagged"]
