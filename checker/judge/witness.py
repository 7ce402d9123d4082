"""The witness: the learner's process. It imports the learner's modules, then only runs acts.

Forked from the judge before the judge reads the run's secret (so neither the signing key nor
the report's pipe is ever in this process: every descriptor it inherited is pointed at
``/dev/null`` first). A prepared child forks it ahead, before any job exists
(:func:`wait_for_go`): it then waits for the judge's go, which the judge gives once it has read the
learner's sources, and the job's report pipe and secret never reach it at all. It gets the learner
role's database URL on its request pipe, imports the
learner's modules, and then answers each request "run act NAME with these arguments" with
plain JSON (see :mod:`checker.judge.acts`). It holds nothing that can produce a ``pass``:
whatever its code computes, the judge decides.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import sys

from checker.judge.acts import HINT_LIMIT, REPLY_LIMIT, write_line


class ActContext:
    """What an act gets as its first argument."""

    def __init__(self, learner, database_url: str, engine_of, state: dict, log):
        self.learner = learner
        """The learner's modules (``ctx.learner.models``), as in the old ``learner`` fixture."""
        self.database_url = database_url
        self._engine_of = engine_of
        self.state = state
        """Kept between the acts of one check (e.g. the objects a first act loaded)."""
        self._log = log

    @property
    def engine(self):
        """An engine on the run's database for the learner's sessions (its statements are captured)."""
        return self._engine_of()

    @property
    def captured(self) -> list:
        """The statements this act has sent so far, as the learner's process saw them (hints only)."""
        return list(self._log)

    def mark(self, label: str) -> None:
        """A hint in the act's reply; the judge's own markers split what the server logged."""
        self.state.setdefault("_marks", []).append([label, len(self._log)])


def _neutralise_descriptors(keep: set[int]) -> None:
    """Point every inherited descriptor but ``keep`` (and stdio) at /dev/null: the report's pipe,
    the secret's pipe, the judge's database sockets. Not closed: a Python object that still wraps
    one would otherwise close a number this process reuses later."""
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        names = os.listdir("/proc/self/fd")
        fds = [int(n) for n in names if n.isdigit()]
    except OSError:
        fds = list(range(3, 1024))
    for fd in fds:
        if fd <= 2 or fd in keep or fd == devnull:
            continue
        try:
            os.dup2(devnull, fd)
        except OSError:
            pass
    os.close(devnull)


class PreparedEngine:
    """The witness's engine, connected ahead by a prepared child (``checker.process.warm``): its
    connection's descriptor survives :func:`_neutralise_descriptors`."""

    def __init__(self, url: str):
        from sqlalchemy import create_engine

        self.url = url
        self.engine = create_engine(url, connect_args={"prepare_threshold": None})
        with self.engine.connect() as conn:  # the pool keeps it; the dialect is initialised now
            self.fd = conn.connection.dbapi_connection.fileno()  # type: ignore[union-attr]

    def dispose(self) -> None:
        self.engine.dispose()


def start(
    job,
    requests: int,
    replies: int,
    confinement,
    uid,
    private_tmp,
    prepared: PreparedEngine | None = None,
    *,
    settled: bool = False,
) -> None:
    """In the forked witness: let go of the judge's descriptors, confine, serve. Never returns.
    ``settled``: descriptors, temp folder and stop filter already done ahead (:func:`wait_for_go`)."""
    try:
        from checker.process import sandbox

        if settled and confinement is None:
            serve(job, requests, replies, confined=False, prepared=prepared)
            return
        _neutralise_descriptors({requests, replies} | ({prepared.fd} if prepared is not None else set()))
        try:
            if confinement is not None:
                import dataclasses

                job = dataclasses.replace(job, **sandbox.enter(confinement, uid, job.learner_dir))
            elif private_tmp is not None:
                from checker.process.warm import _private_temp

                _private_temp(private_tmp)
        except (OSError, sandbox.ConfinementError) as error:
            write_line(replies, {"raised": {"kind": "other", "text": f"the run could not be confined: {error}"}})
            return
        sandbox.deny_stopping()
        serve(job, requests, replies, confined=confinement is not None, prepared=prepared)
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(0)


def wait_for_go(go, requests: int, replies: int, uid, private_tmp, prepared: PreparedEngine | None) -> None:
    """In a witness forked ahead by a prepared child (:func:`checker.judge.process.fork_ahead`),
    before any job exists: let go of every inherited descriptor now (the worker's channel among
    them: the job, its report pipe and its secret never reach this process), then wait for the
    judge's go: the job's message and the run's output file. Never returns."""
    try:
        _neutralise_descriptors({requests, replies, go.fileno()} | ({prepared.fd} if prepared is not None else set()))
        import socket

        settled = uid is None  # a worker that confines no run: what start() would do first is done now, off the run's path
        if settled:
            from checker.process import sandbox
            from checker.process.warm import _private_temp

            if private_tmp is not None:
                _private_temp(private_tmp)
            sandbox.deny_stopping()
        try:
            data, fds, _flags, _addr = socket.recv_fds(go, 1 << 20, 1)
        except OSError:
            data, fds = b"", []
        go.close()
        if not data or len(fds) != 1:
            return  # the judge went away (or ran a job without acts): nothing to do
        import signal

        from checker.process import sandbox
        from checker.wire import GradingJob

        signal.signal(signal.SIGINT, signal.SIG_DFL)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        os.dup2(fds[0], 1)
        os.dup2(fds[0], 2)
        os.close(fds[0])
        sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115 - the process's stdin
        message = json.loads(data)
        job = GradingJob.from_json(message.get("job"))
        confinement = sandbox.Confinement.from_json(message.get("confinement"))
        start(job, requests, replies, confinement, uid, private_tmp, prepared, settled=settled)
    finally:
        os._exit(0)


def _read_request(fd: int, buffer: bytearray) -> dict | None:
    while (end := buffer.find(b"\n")) < 0:
        chunk = os.read(fd, 65536)
        if not chunk:
            return None
        buffer += chunk
    line = bytes(buffer[:end])
    del buffer[: end + 1]
    return json.loads(line)


def serve(job, requests: int, replies: int, *, confined: bool = False, prepared: PreparedEngine | None = None) -> None:
    import warnings

    from checker.capture import log as capture
    from checker.fixtures import Learner
    from checker.process import harness, sandbox
    from checker.resolver import RunScope

    buffer = bytearray()
    init = _read_request(requests, buffer)
    if not init:
        return
    database_url = str(init.get("database_url", ""))
    sandbox.apply_limits(processes=confined)
    harness.quiet_library_warnings(warnings)
    learner_dir = job.learner_dir.resolve()
    os.environ["DATABASE_URL"] = database_url
    os.chdir(learner_dir)
    sys.path.insert(0, str(learner_dir))
    sys.dont_write_bytecode = True
    capture.set_learner_root(learner_dir)
    capture.install()
    try:
        registry = harness.load_checks(job.checks_file)
    except Exception as error:
        write_line(replies, {"raised": {"kind": "other", "text": f"cannot load the acts: {type(error).__name__}: {error}"}})
        return
    engines: list = [prepared.engine] if prepared is not None and prepared.url == database_url else []

    def engine_of():
        if not engines:
            from sqlalchemy import create_engine

            engines.append(create_engine(database_url, connect_args={"prepare_threshold": None}))
        return engines[0]

    try:  # connect now: the dialect's first-connect queries are then in no act's window
        engine_of().connect().close()
    except Exception:
        pass  # an act that needs it reports what goes wrong
    modules: dict = {}
    for name in job.modules:
        write_line(replies, {"progress": {"importing": name}})
        try:
            modules[name] = importlib.import_module(name)
        except BaseException as error:  # SystemExit and KeyboardInterrupt at import are errors too
            write_line(
                replies, {"raised": {"kind": "import", "text": harness.learner_traceback(error, learner_dir)}, "module": name}
            )
            return
    write_line(replies, {"progress": {"ready": True}})
    learner = Learner(learner_dir, modules)
    run = RunScope()
    states: dict[str, dict] = {}
    while True:
        request = _read_request(requests, buffer)
        if not request or request.get("end"):
            return
        check = str(request.get("check", ""))
        if check not in states:
            states.clear()
            states[check] = {}
        function = registry.acts.get(str(request.get("act")))
        if function is None:
            write_line(replies, {"raised": {"kind": "other", "text": f"no act named {request.get('act')!r}"}})
            continue
        write_line(replies, _run_act(function, request.get("args") or [], learner, database_url, engine_of, states[check], run))


def _run_act(function, args: list, learner, database_url: str, engine_of, state: dict, run) -> dict:
    from checker.api import CheckFailed
    from checker.capture import log as capture
    from checker.process.harness import _from_the_database_layer
    from checker.tracebacks import assertion_source, grader_failure, learner_traceback, summary, touches_learner

    reply: dict
    with capture.capture() as log:
        try:
            value = function(ActContext(learner, database_url, engine_of, state, log), *args)
            if inspect.isawaitable(value):
                value = run.await_(value)
            reply = {"ok": value}
        except CheckFailed as failure:
            reply = {"failed": str(failure)}
        except AssertionError as failure:
            reply = {"failed": str(failure) or assertion_source(failure)}
        except Exception as error:
            if touches_learner(error, learner.dir):
                reply = {"raised": {"kind": "learner", "text": learner_traceback(error, learner.dir)}}
            elif _from_the_database_layer(error):
                reply = {"raised": {"kind": "database", "text": "\n".join(summary(error, 4))}}
            else:
                reply = {"raised": {"kind": "other", "text": grader_failure(error)}}
    reply["hints"] = [
        {"sql": s.sql, "location": s.location, "lazy_load": s.lazy_load, "relationship_load": s.relationship_load}
        for s in list(log)[:HINT_LIMIT]
    ]
    try:
        encoded = json.dumps(reply)
    except (TypeError, ValueError) as error:
        return {"raised": {"kind": "other", "text": f"the act returned what is not plain JSON: {error}"}, "hints": reply["hints"]}
    if len(encoded) > REPLY_LIMIT:
        return {"raised": {"kind": "other", "text": "the act returned more than a reply may hold"}, "hints": []}
    return reply


__all__ = ["ActContext", "serve", "start", "wait_for_go"]
