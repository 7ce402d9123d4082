"""The judge: runs every check of a run, out of the learner's reach, and alone writes the report.

Forked (by the warm worker, before any learner import) as the run's grading child, it forks the
witness first (:mod:`checker.judge.witness`), *then* reads the run's secret: the signing key and
the report's pipe are never in the learner's process. It makes itself undumpable
(``PR_SET_DUMPABLE`` 0: no ptrace, no ``/proc/<pid>/mem`` for the learner's code of the same
uid); in class runs it keeps the grader's uid while the witness gets a uid of its own.

For each check it empties the database, resolves the check's fixtures here (``db``, ``schema``:
its own connection; ``sql``: the server's statement log; ``learner``: acts run in the witness,
files read from a snapshot taken before the witness started) and runs the check function here.
The runner believes only this process's signed report (the witness never had its pipe or key).
"""

from __future__ import annotations

import gc
import inspect
import os
import signal
import sys
import time
from pathlib import Path

from checker.judge.acts import ActTimeout, BadReply, LearnerRaised, WitnessGone
from checker.judge.evidence import ActRunner, JudgeLearner, OutsideSql, Witness, snapshot_sources
from checker.judge.serverlog import LogUnavailable
from checker.results import EVIDENCE, TESTIMONY, CheckResult, Status

IMPORT_TIMEOUT_S = 25.0
"""The judge's own bound on the witness's imports (the runner's, 20 s, ends the run first)."""
ACT_GRACE_S = 5.0
"""Past the check's limit, the judge stops waiting for an act (the runner's deadline ends the run first)."""
OUTSIDE_FIXTURES = frozenset({"db", "schema", "admin", "sql"})
_KEPT: list = []
"""Objects the judge holds and must never finalise (the witness's prepared connection)."""


class Ahead:
    """A witness forked ahead by a prepared child (``checker.process.warm``), before any job: it
    waits for :meth:`go` (the job's message and the run's output file, on a socket of its own)."""

    def __init__(self, pid: int, requests: int, replies: int, go):
        self.pid = pid
        self.requests = requests
        self.replies = replies
        self.go_socket = go

    def go(self, message: dict) -> bool:
        """Let it start the run (its stdout and stderr: this process's); False if it is gone."""
        import json
        import socket

        try:
            socket.send_fds(self.go_socket, [json.dumps(message).encode()], [1])
            return True
        except OSError:
            return False
        finally:
            self.go_socket.close()

    def discard(self) -> None:
        """End it unused (a run without acts, or a job refused)."""
        self.go_socket.close()
        os.close(self.requests)
        os.close(self.replies)
        _end_witness(self.pid)


def fork_ahead(engines: dict, uid: int | None, private_tmp: Path | None) -> Ahead:
    """In a prepared child, before the job arrives: fork the witness now (off the run's critical
    path), with the witness's prepared engine (taken out of ``engines``). It holds no job, no
    report pipe and no secret: they reach the judge later, on a channel the witness let go of."""
    import socket

    prepared = engines.pop("witness", None)
    _KEPT.append(prepared)  # never closed here: its socket is the witness's
    to_witness, requests = os.pipe()  # (read, write): the witness reads requests
    replies, from_witness = os.pipe()
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    gc.freeze()  # what the judge holds is never collected in the witness: no copy-on-write for it
    pid = os.fork()
    if pid == 0:
        os.close(requests)
        os.close(replies)
        ours.close()
        from checker.judge import witness

        witness.wait_for_go(theirs, to_witness, from_witness, uid, private_tmp, prepared)  # never returns
    os.close(to_witness)
    os.close(from_witness)
    theirs.close()
    return Ahead(pid, requests, replies, ours)


def run_child(
    message: dict,
    results: int,
    secret_fd: int,
    uid: int | None,
    engines: dict | None,
    private_tmp: Path | None,
    ahead: Ahead | None = None,
) -> None:
    """In the worker's forked child (stdio wired, not yet confined, the secret unread): become the
    judge of the run ``message`` describes; fork the witness (or start the one forked ``ahead``).
    Returns when the run is over."""
    from checker.process import harness, sandbox
    from checker.process.warm import _read_secret
    from checker.wire import GradingJob, WireError

    try:
        job = GradingJob.from_json(message.get("job"))
        confinement = sandbox.Confinement.from_json(message.get("confinement"))
    except (WireError, TypeError, AttributeError) as error:
        if ahead is not None:
            ahead.discard()
        harness.refuse(
            results, _read_secret(secret_fd), f"the grading worker was sent a job it cannot read, so it did not run: {error}"
        )
        return
    if confinement is not None and uid is None:
        if ahead is not None:
            ahead.discard()
        harness.refuse(
            results, _read_secret(secret_fd), "the run could not be confined (its worker gives out no uids), so it did not run"
        )
        return
    learner_dir = job.learner_dir.resolve()
    sources = snapshot_sources(learner_dir)  # before the witness's go: before any learner code runs
    if _import_families(message.get("families")) and ahead is not None:
        ahead.discard()  # it would import them again: the witness forked below inherits them instead
        ahead = None
    if ahead is not None and not ahead.go(message):
        ahead.discard()
        ahead = None
    if ahead is not None:
        pid, requests, replies = ahead.pid, ahead.requests, ahead.replies
    else:
        prepared = (engines or {}).pop("witness", None)  # the witness's, connected ahead (checker.process.warm)
        _KEPT.append(prepared)  # never closed here: its socket is the witness's
        to_witness, requests = os.pipe()  # (read, write): the witness reads requests
        replies, from_witness = os.pipe()
        gc.freeze()  # what the judge holds is never collected in the witness: no copy-on-write for it
        pid = os.fork()
        if pid == 0:
            os.close(requests)
            os.close(replies)
            from checker.judge import witness

            witness.start(job, to_witness, from_witness, confinement, uid, private_tmp, prepared)  # never returns
        os.close(to_witness)
        os.close(from_witness)
    sandbox.harden()
    secret = _read_secret(secret_fd)
    try:
        judge(job, secret, results, Witness(pid, requests, replies), sources, learner_dir, engines)
    finally:
        _end_witness(pid)


def _import_families(families) -> bool:
    """Import what the job's checks need beyond the worker's preload (FastAPI, Alembic: imported by
    the worker only while idle) before the witness is forked, so that one process pays for it, not
    the judge and its witness each. True if anything was imported."""
    from checker.process.spawned import FAMILIES
    from checker.process.warm import _import

    missing = [name for family in families or () for name in FAMILIES.get(str(family), ()) if name not in sys.modules]
    for name in missing:
        _import(name)
    return bool(missing)


def _end_witness(pid: int) -> int:
    """Kill the witness (and wait for it); its wait status."""
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        return os.waitpid(pid, 0)[1]
    except ChildProcessError:
        return 0


def _die_like(pid: int) -> None:
    """The witness died mid-run: end this process the same way (the runner then reports the crash
    of the current check as it always has, and grades the remaining checks in a new run)."""
    status = _end_witness(pid)
    sys.stdout.flush()
    sys.stderr.flush()
    if os.WIFSIGNALED(status):
        signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
        os.kill(os.getpid(), os.WTERMSIG(status))
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


def judge(job, secret: dict, results: int, witness: Witness, sources: dict[str, str], learner_dir: Path, engines) -> None:
    from sqlalchemy import event
    from sqlalchemy.engine import make_url

    from checker.fixtures import Environment, new_grader_engine
    from checker.judge.serverlog import ServerLog
    from checker.process.channel import Channel
    from checker.process.harness import load_checks, reset_database
    from checker.resolver import RunScope
    from checker.wire import Event

    channel = Channel(results, bytes.fromhex(secret["key"]))
    send = channel.send
    database_url = secret["database_url"]
    witness.send({"database_url": database_url})
    try:
        registry = load_checks(job.checks_file)
    except Exception as error:
        send(Event.GRADER_ERROR, message=f"cannot load the checks of this exercise: {type(error).__name__}: {error}")
        return
    checks = [c for c in registry.checks if not job.only or c.name in job.only]
    send(Event.CHECKS, checks=[{"name": c.name, "title": c.title, "timeout": c.timeout} for c in checks])

    engines = dict(engines or {})
    judge_url = secret.get("judge_url")
    if judge_url:  # the judge's own role, acting as the learner's: its statements stay out of the log,
        # and learner code cannot end its connections (so no pre-ping on each checkout)
        engines[database_url] = new_grader_engine(judge_url, role=make_url(database_url).username, pre_ping=False)
    environment = Environment(None, database_url, engines)  # type: ignore[arg-type]
    engine = environment.engine(database_url)
    own_pids: set[int] = set()

    def remember_pid(dbapi_connection, _record, _proxy) -> None:
        pid = getattr(getattr(dbapi_connection, "info", None), "backend_pid", None)
        if pid:
            own_pids.add(pid)

    event.listen(engine, "checkout", remember_pid)
    _connect_ahead(engine)  # while the witness imports: off the run's path

    def autocommit(statement: str):
        """One statement through the judge's pool, outside any transaction (one round trip)."""
        with engine.connect() as conn:
            driver = conn.connection.driver_connection
            driver.autocommit = True  # type: ignore[union-attr]
            try:
                return driver.execute(statement).fetchone()  # type: ignore[union-attr]
            finally:
                driver.autocommit = False  # type: ignore[union-attr]

    def mark(nonce: str) -> None:
        """A marker in the statement log: a statement that fails, sent by the judge. Its own
        statements are not logged (its role's log_statement is off) but errors are, with the
        statement's text: one line carrying ``nonce``, from one of the judge's backends."""
        try:
            autocommit(f"SELECT '{nonce}'::int")
        except Exception as error:
            if getattr(error, "sqlstate", None) != INVALID_TEXT:
                raise

    server_log = None
    log_path = secret.get("statement_log")
    if log_path:
        try:
            # the learner role's own setting, as the superuser made it (the judge acts as that role)
            if autocommit(LOGGED_ROLE) == (True,):
                server_log = ServerLog(Path(log_path), str(make_url(database_url).database), own_pids)
        except Exception:
            server_log = None
    if server_log is not None:
        try:
            server_log.attach()  # one handle for the run (bounding the log first if no run reads it)
        except LogUnavailable:
            pass  # read again at the first act, which then has no verdict (never the witness's word instead)
    current_sql = [OutsideSql()]
    runner = ActRunner(witness, server_log, mark, lambda: current_sql[0])

    # the witness's imports, relayed
    deadline = time.monotonic() + IMPORT_TIMEOUT_S
    try:
        while True:
            reply = witness.receive(deadline)
            progress = reply.get("progress")
            if isinstance(progress, dict) and isinstance(progress.get("importing"), str):
                send(Event.IMPORTING, module=progress["importing"])
            elif isinstance(progress, dict) and progress.get("ready") is True:
                break
            elif "raised" in reply and reply["raised"]["kind"] == "import":
                send(Event.IMPORT_ERROR, module=str(reply.get("module", "?")), message=reply["raised"]["text"])
                return
            elif "raised" in reply:
                send(Event.GRADER_ERROR, message=reply["raised"]["text"])
                return
            else:
                raise BadReply("an unexpected reply while your modules were imported")
    except (WitnessGone, ActTimeout):
        _die_like(witness.pid)
    except BadReply as why:
        send(Event.GRADER_ERROR, message=f"the process running your code broke the grading protocol: {why}")
        return

    learner = JudgeLearner(learner_dir, sources, runner)
    run = RunScope()
    for spec in checks:
        send(Event.START, name=spec.name)
        started = time.perf_counter()
        reset_database(environment)
        sql = OutsideSql()
        current_sql[0] = sql
        runner.check, runner.acts_run = spec.name, 0
        runner.deadline = time.monotonic() + float(spec.timeout or job.check_timeout_s) + ACT_GRACE_S
        try:
            status, message = _run_check(spec, registry, environment, learner, sql, run)
        except (WitnessGone, ActTimeout):
            _die_like(witness.pid)
            return
        testimony = spec.testimony or sql.testimony or (runner.acts_run > 0 and not _outside(spec, registry))
        from checker.capture.report import statement_views

        result = CheckResult(
            spec.name,
            status,
            message,
            spec.title,
            statement_views(sql.everything, sql.flagged),
            time.perf_counter() - started,
            evidence=TESTIMONY if testimony else EVIDENCE,
        )
        send(Event.RESULT, **result.to_wire())
    try:
        run.teardown()
    except Exception:
        pass
    witness.send({"end": True})
    if server_log is not None:
        server_log.close()
    environment.dispose()
    send(Event.DONE)


LOGGED_ROLE = "SELECT coalesce('log_statement=all' = ANY(rolconfig), false) FROM pg_roles WHERE rolname = current_user"
"""Whether the server logs every statement of the learner's role (``checker.judge.serverlog``)."""
INVALID_TEXT = "22P02"
"""The SQLSTATE of the judge's markers (``'course-mark-…'::int``): invalid_text_representation."""


def _connect_ahead(engine) -> None:
    """Open the judge's first connection now, while the witness imports the learner's modules (a
    failure is reported by the first check that connects)."""
    try:
        engine.connect().close()
    except Exception:
        pass


def _outside(spec, registry) -> bool:
    """Whether the check asks for outside evidence (``db``, ``schema``, ``sql``, ``admin``), itself or
    through its fixtures: if not, and it ran acts, its verdict rests on the witness's word."""
    seen: set[str] = set()
    waiting = list(spec.parameters)
    while waiting:
        name = waiting.pop()
        if name not in seen:
            seen.add(name)
            if name in registry.fixtures:
                waiting.extend(registry.fixtures[name].parameters)
    return bool(seen & OUTSIDE_FIXTURES)


def _run_check(spec, registry, environment, learner, sql: OutsideSql, run) -> tuple[Status, str]:
    """(status, message) of one check, run here, in the judge."""
    from checker.api import CheckFailed
    from checker.process.harness import _from_the_database_layer
    from checker.resolver import FixtureResolver
    from checker.tracebacks import assertion_source, grader_failure, summary

    resolver = FixtureResolver(
        registry, {"environment": environment, "sql": sql, "learner": learner, "captured_engine": _NoCapturedEngine()}, run
    )
    status, message = Status.PASS, ""
    try:
        args = [resolver.resolve(name) for name in spec.parameters]
        returned = spec.function(*args)
        if inspect.isgenerator(returned) or inspect.isasyncgen(returned):  # it would "pass" without running
            raise TypeError(f"check {spec.name!r} yields: a check runs once and returns (a fixture may yield)")
        if inspect.isawaitable(returned):
            resolver.await_(returned)
    except (WitnessGone, ActTimeout):
        raise
    except CheckFailed as failure:
        status, message = Status.FAIL, str(failure)
    except AssertionError as failure:
        status, message = Status.FAIL, str(failure) or assertion_source(failure)
    except LogUnavailable as why:
        status, message = (
            Status.ERROR,
            f"what your code sent could not be read from the server's statement log, so no verdict: {why}",
        )
    except LearnerRaised as raised:
        if raised.kind == "learner":
            status, message = Status.FAIL, "your code raised an exception:\n" + raised.text
        elif raised.kind == "database":
            status, message = Status.FAIL, "SQLAlchemy or Postgres refused while your models were being used:\n" + raised.text
        else:
            status, message = Status.ERROR, "the grader itself failed (please report this):\n" + raised.text
    except Exception as error:
        if _from_the_database_layer(error):
            status = Status.FAIL
            message = "SQLAlchemy or Postgres refused what your code made:\n" + "\n".join(summary(error, 4))
        else:
            status, message = Status.ERROR, "the grader itself failed (please report this):\n" + grader_failure(error)
    finally:
        try:
            resolver.teardown()
        except (WitnessGone, ActTimeout):
            raise
        except Exception as error:
            if status is Status.PASS:
                status, message = Status.ERROR, f"fixture teardown failed: {error}"
    return status, message


class _NoCapturedEngine:
    def __getattr__(self, name: str):
        raise RuntimeError("captured_engine is the learner's side: in a judged exercise, use ctx.engine in an @act")
