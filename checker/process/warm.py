"""The worker: a long-lived process that forks a fresh child per grading run.

Importing SQLAlchemy, psycopg, Alembic and FastAPI costs most of a second; a fork costs a few
milliseconds. Each child imports the learner's modules itself, so runs stay isolated, and each
child leads its own process group, so a timeout kills it and everything it started. ``--cold``:
import nothing ahead (a worker for one run, see ``checker.process.launch.ColdLauncher``).

The worker runs no learner code and holds no secret: a run's database URL and signing key reach
the child on a pipe whose read end the worker passes on unread. It is the subreaper of its
children: whatever learner code leaves running (a ``setsid`` daemon, a double fork) is adopted
by the worker and killed. When the job says so (class grading as root), each child is confined
in a mount namespace and runs as a uid of its own, and every process of that uid is killed when
the run ends (see ``checker.process.sandbox``).

Protocol: one ``SOCK_SEQPACKET`` unix socket; each message is JSON.

- ``{"job": {...}, "database": name, "confinement": {...} | null}`` with three descriptors: the
  write end of the results pipe, the output file, and the read end of the run's secret pipe.
  ``job`` is :meth:`checker.wire.GradingJob.to_json` (the child reads it; one it cannot read is
  refused with a signed ``grader-error``), ``database`` the run's (a child prepared for it takes
  the job), ``confinement`` that of a class-graded run (:class:`checker.process.sandbox.Confinement`). Answered by ``{"started": pid}``, then
  ``{"exited": pid, "status": code}`` when that child ends (``status`` as ``Popen.returncode``).
- ``{"prepare": database}`` with one descriptor, a secret pipe holding that database's URL: fork
  a child now, connected ahead of the run that will get ``database`` (a connection and
  SQLAlchemy's first-connect queries cost 10-15 ms). No answer. At most ``MAX_PREPARED`` wait.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import os
import select
import shutil
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path

from checker.process import sandbox
from checker.process.spawned import FAMILIES

PRELOAD = (
    "sqlalchemy",
    "sqlalchemy.orm",
    "sqlalchemy.ext.hybrid",
    "sqlalchemy.ext.associationproxy",
    "sqlalchemy.dialects.postgresql",
    "psycopg",
    "checker.process.harness",
    "checker.process.channel",
    "checker.process.integrity",
    "checker.wire",
    "checker.results",
    "checker.resolver",
    "checker.tracebacks",
    "checker.capture.log",
    "checker.fixtures",
    "checker.capture.report",
    "checker.authoring.inspectors",
    "checker.capture.shape",
    "checker.authoring.docchat",
    "checker.process.fresh",
    "checker.judge.process",
    "checker.judge.witness",
    "checker.judge.evidence",
    "checker.judge.serverlog",
    "checker.process.platform",
    "checker.process.warm",  # this module, run as __main__: the judge and witness import it by name
    "resource",
    "getpass",
)
"""Imported before the worker says it is ready: what every check needs."""
MAX_PREPARED = 4
PRELOAD_WHEN_IDLE = tuple(name for family in FAMILIES.values() for name in family)
"""Imported one at a time while no job is waiting: children forked later get them for free."""
ORPHAN_SCAN_S = 0.5


def _import(name: str) -> None:
    import importlib
    import warnings

    try:
        with warnings.catch_warnings():  # a library's import-time warning is not the learner's output
            warnings.simplefilter("ignore")
            importlib.import_module(name)
    except Exception:  # a missing optional library only costs speed, not correctness
        pass


JUDGE_ONLY = ("checker.judge.process", "checker.judge.evidence", "checker.judge.serverlog")
"""What only a run judged apart imports (never one of a spawned interpreter: ``checker.judge.inprocess``)."""


def _preload(judged: bool = True) -> None:
    import warnings

    from checker.process.harness import quiet_library_warnings

    quiet_library_warnings(warnings)
    for name in PRELOAD:
        if judged or name not in JUDGE_ONLY:
            _import(name)
    from checker.capture import log as capture

    capture.install()
    try:
        from checker.process import warmup

        warmup.run()
    except Exception:  # only speed is at stake
        pass


def _read_secret(fd: int) -> dict:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    return json.loads(b"".join(chunks) or b"{}")


def _private_temp(folder: Path) -> None:
    """The run's own temp folder (and nothing else's): removed by the worker when the run ends."""
    with contextlib.suppress(OSError):
        os.mkdir(folder, 0o700)
        os.environ["TMPDIR"] = str(folder)
        tempfile.tempdir = None


def _child(
    message: dict,
    fds: list[int],
    control,
    uid: int | None,
    engines: dict | None = None,
    private_tmp: Path | None = None,
    ahead=None,
) -> None:
    """In the forked child: become a process group, wire stdio, confine (or give it a temp folder
    of its own), deny it stopping others, run the job of ``message``."""
    results, output, secret_fd = fds
    if control is not None:
        control.close()
        os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.close(output)
    sys.stdin = open(os.devnull, encoding="utf-8")
    if _judged(message):  # the checks run here, the learner's code in a witness forked now (checker.judge)
        try:
            from checker.judge import process as judge

            judge.run_child(message, results, secret_fd, uid, engines, private_tmp, ahead)
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(0)
    if ahead is not None:  # a run without acts: the witness forked ahead is not needed
        ahead.discard()
    secret = _read_secret(secret_fd)
    from checker.process import harness
    from checker.wire import GradingJob, WireError

    try:
        try:
            job = GradingJob.from_json(message.get("job"))
            confinement = sandbox.Confinement.from_json(message.get("confinement"))
        except (WireError, TypeError, AttributeError) as error:
            harness.refuse(results, secret, f"the grading worker was sent a job it cannot read, so it did not run: {error}")
            return
        if confinement is not None:
            if uid is None:  # only a worker started for confined runs (--confine) gives out uids
                harness.refuse(results, secret, "the run could not be confined (its worker gives out no uids), so it did not run")
                return
            try:
                moved = sandbox.enter(confinement, uid, job.learner_dir)  # a private copy, without namespaces
                job = dataclasses.replace(
                    job,
                    learner_dir=moved.get("learner_dir", job.learner_dir),
                    checks_file=moved.get("checks_file", job.checks_file),
                )
            except (OSError, sandbox.ConfinementError) as error:
                harness.refuse(
                    results,
                    secret,
                    f"the run could not be confined, so it did not run: {error}; "
                    "fix: grade as root on Linux (a CI job or a container), see docs/security.md",
                )
                return
        elif private_tmp is not None:
            _private_temp(private_tmp)
        sandbox.deny_stopping()  # learner code cannot freeze the worker or the runner above it
        harness.run_job(job, secret, results, engines, confined=confinement is not None)
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(0)


def _families(message: dict) -> list[str]:
    """The library families (``checker.process.spawned.FAMILIES``) the job's checks import."""
    from checker.process.spawned import families

    try:
        return sorted(families(Path(str(message["job"]["checks_file"]))))
    except (KeyError, TypeError):
        return []


def _judged(message: dict) -> bool:
    """Whether the job's ``checks.py`` declares acts: then a judge runs its checks (``checker.judge``).
    Found out by the worker (:meth:`_Worker.run`, cached per version of the file: its children,
    prepared before the job came, would each parse the file again on the run's critical path)."""
    if isinstance(message.get("judged"), bool):
        return message["judged"]
    from checker.judge import judged

    try:
        return judged(Path(str(message["job"]["checks_file"])))
    except (KeyError, TypeError):
        return False


def _compile_checks(message: dict) -> None:
    """Compile the job's checks here, once per version of the file, so that children inherit it
    (a broken file, or a job that cannot be read, is reported by the child)."""
    from checker.authoring import shared
    from checker.process import harness
    from checker.wire import GradingJob

    try:
        checks_file = GradingJob.from_json(message.get("job")).checks_file
        harness.compile_checks(checks_file)
        helpers = shared.helpers_file(checks_file)
        if helpers.is_file():
            shared.code_of(helpers)
    except Exception:
        pass


def _send(control, message: dict) -> None:
    control.send(json.dumps(message).encode())


class _Uids:
    """The uids of confined runs: one per live child, reserved machine-wide (a lock file per uid,
    held while the child lives: two graders on one machine never share a uid, or one's cleanup
    would kill the other's runs), and every process of it killed when the run ends."""

    def __init__(self):
        self.by_pid: dict[int, tuple[int, int]] = {}  # pid: (uid, lock descriptor)
        self._next = 0

    def take(self) -> tuple[int, int]:
        import fcntl

        folder = sandbox.uid_lock_folder()
        for _ in range(sandbox.UID_SLOTS):
            uid = sandbox.slot_uid(self._next)
            self._next += 1
            lock = os.open(folder / str(uid), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(lock)
                continue
            if not sandbox.uid_processes(uid):
                return uid, lock
            os.close(lock)
        raise sandbox.ConfinementError("no free uid for a confined run")

    def descriptors(self) -> list[int]:
        return [lock for _uid, lock in self.by_pid.values()]

    def release(self, pid: int) -> None:
        taken = self.by_pid.pop(pid, None)
        if taken is not None:
            uid, lock = taken
            sandbox.kill_uid(uid)
            sandbox.clean_uid(uid)
            os.close(lock)


class _Worker:
    def __init__(self, control, *, confining: bool = False):
        self.control = control
        self.prepared: dict[str, _Prepared] = {}  # by database name, oldest first
        self.started: set[int] = set()
        self.uids = _Uids()
        self.confining = confining and sandbox.can_confine()
        """Only a worker for confined runs (class grading as root) gives its children uids."""
        self.temp = Path(tempfile.mkdtemp(prefix="course-runs-"))
        """The runs' own temp folders (``<pid>``, 0700), each removed when its run ends."""

    def temp_of(self, pid: int) -> Path:
        return self.temp / str(pid)

    def known(self) -> set[int]:
        return self.started | {p.pid for p in self.prepared.values()}

    def reap(self) -> None:
        """Report the children of runs that ended (prepared children never used end silently);
        adopted orphans are reaped here too."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.uids.release(pid)
            shutil.rmtree(self.temp_of(pid), ignore_errors=True)
            if pid in self.started:
                self.started.discard(pid)
                code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
                _send(self.control, {"exited": pid, "status": code})

    def kill_orphans(self) -> None:
        """Kill what learner code left running outside its process group (we adopted it)."""
        for pid in sandbox.orphans(self.known()):
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def fork(self) -> tuple[int, int | None]:
        """Fork: (pid, uid the child will be confined to, if confining); in the child, pid is 0
        and no uid lock of the worker's is left open."""
        uid: int | None
        lock: int | None
        uid, lock = self.uids.take() if self.confining else (None, None)
        gc.freeze()  # what the worker holds is never collected in a child: no copy-on-write for it
        pid = os.fork()
        if pid == 0:
            for descriptor in [*self.uids.descriptors(), *([lock] if lock is not None else [])]:
                os.close(descriptor)
        elif uid is not None and lock is not None:
            self.uids.by_pid[pid] = (uid, lock)
        return pid, uid

    def prepare(self, database: str, secret_fd: int) -> None:
        if database in self.prepared:
            self.prepared.pop(database).discard()
        while len(self.prepared) >= MAX_PREPARED:
            self.prepared.pop(next(iter(self.prepared))).discard()
        self.prepared[database] = _Prepared(self, secret_fd)

    def run(self, message: dict, fds: list[int]) -> None:
        _compile_checks(message)
        message["judged"] = _judged(message)
        message["families"] = _families(message)
        pid = None
        ready = self.prepared.pop(str(message.get("database") or ""), None)
        if ready is not None and ready.hand_over(message, fds):
            pid = ready.pid
        if pid is None:
            pid, uid = self.fork()
            if pid == 0:
                _forget(self.prepared.values())
                _child(message, fds, self.control, uid, private_tmp=self.temp_of(os.getpid()))
        for fd in fds:
            os.close(fd)
        self.started.add(pid)
        _send(self.control, {"started": pid})


class _Prepared:
    """A child forked ahead of the next run and connected to the database that run will get."""

    def __init__(self, worker: _Worker, secret_fd: int):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        others = list(worker.prepared.values())
        self.pid, uid = worker.fork()
        if self.pid == 0:
            ours.close()
            _forget(others)
            _prepared_child(secret_fd, theirs, worker.control, uid, worker.temp_of(os.getpid()))
        os.close(secret_fd)
        theirs.close()
        self.socket = ours

    def hand_over(self, message: dict, fds: list[int]) -> bool:
        """Give it the job's message; False if it is gone (then a fresh fork runs the job)."""
        try:
            socket.send_fds(self.socket, [json.dumps(message).encode()], fds)
            return True
        except OSError:
            self.discard()
            return False
        finally:
            self.socket.close()

    def discard(self) -> None:
        self.socket.close()  # it sees EOF and exits; the kill is for one stuck in connecting
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _forget(prepared) -> None:
    """In a new child: close the worker's ends of the prepared children's sockets (learner code
    must not be able to talk to them)."""
    for other in prepared:
        other.socket.close()


def _prepared_child(secret_fd: int, channel, control, uid: int | None, private_tmp: Path) -> None:
    """Connect now, then wait for the run (or for the worker to give up on us)."""
    control.close()
    os.setsid()
    url = _read_secret(secret_fd).get("database_url", "")
    engines: dict = {}  # the judge connects as its own role (checker.judge); a run beside learner code, by itself
    try:  # the learner's side's own, for a run judged apart (checker.judge): kept out of the judge's reach
        from checker.judge.witness import PreparedEngine

        engines["witness"] = PreparedEngine(url)
    except Exception:
        pass
    del url
    ahead = None
    try:  # the witness of a run judged apart, forked now rather than on the run's critical path
        from checker.judge.process import fork_ahead

        ahead = fork_ahead(engines, uid, private_tmp)
    except Exception:
        pass  # the judge forks it when the job comes
    try:
        data, fds, _flags, _addr = socket.recv_fds(channel, 1 << 20, 3)
    except OSError:
        data = b""
    if not data or len(fds) != 3:
        os._exit(0)
    channel.close()
    _child(json.loads(data), fds, None, uid, engines, private_tmp, ahead)


def serve(control_fd: int, *, cold: bool = False, confining: bool = False) -> None:
    """The worker's loop: one job per message, until the runner closes the socket."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the runner's to handle
    sandbox.become_subreaper()
    if not cold:
        _preload()
    control = socket.socket(fileno=control_fd)
    worker = _Worker(control, confining=confining)
    _send(control, {"ready": os.getpid()})
    idle_imports = [] if cold else list(PRELOAD_WHEN_IDLE)
    idle_checks: list[Path] = []  # checks.py files to run once here, after the imports (harness.keep_checks)
    scanned = time.monotonic()
    try:
        while True:
            ready, _, _ = select.select([control], [], [], 0.0 if idle_imports or idle_checks else 0.05)
            worker.reap()
            if time.monotonic() - scanned > ORPHAN_SCAN_S:
                worker.kill_orphans()
                scanned = time.monotonic()
            if not ready:
                if idle_imports:
                    _import(idle_imports.pop(0))
                elif idle_checks:
                    from checker.process import harness

                    harness.keep_checks(idle_checks.pop(0))
                continue
            data, fds, _flags, _addr = socket.recv_fds(control, 1 << 20, 3)
            if not data:
                return
            message = json.loads(data)
            if "prepare" in message and len(fds) == 1:
                worker.prepare(str(message["prepare"]), fds[0])
            elif "job" in message and len(fds) == 3:
                worker.run(message, fds)
                if not cold:
                    idle_checks.extend(_to_keep(message, idle_checks))
            else:
                for fd in fds:
                    os.close(fd)
    finally:
        for waiting in worker.prepared.values():
            waiting.discard()
        _shutdown(worker)


def _to_keep(message: dict, queued: list[Path]) -> list[Path]:
    """The job's ``checks.py``, if this worker has not run it yet (nor queued it)."""
    from checker.process import harness

    try:
        checks_file = Path(str(message["job"]["checks_file"]))
        known = harness._version(checks_file) in harness._KEPT
    except (KeyError, TypeError, OSError):
        return []
    return [] if known or checks_file in queued else [checks_file]


def _shutdown(worker: _Worker) -> None:
    """Leave nothing behind: children, adopted orphans, confined uids."""
    for pid in worker.known():
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    worker.kill_orphans()
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            time.sleep(0.01)
            worker.kill_orphans()
            continue
        worker.uids.release(pid)
    for pid in list(worker.uids.by_pid):
        worker.uids.release(pid)
    shutil.rmtree(worker.temp, ignore_errors=True)


if __name__ == "__main__":
    try:
        serve(int(sys.argv[1]), cold="--cold" in sys.argv[2:], confining="--confine" in sys.argv[2:])
    except (BrokenPipeError, ConnectionResetError):
        pass  # the runner went away first; nothing to report to anyone
