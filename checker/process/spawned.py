"""A grading child started as a fresh interpreter: the portable way to start a run (no fork).

``checker.process.launch.SpawnLauncher`` keeps a few of these started ahead: each imports what every run
needs (``--warm``) while nobody waits, says :data:`READY`, then blocks on its standard input for
a job, a JSON line ``{"job", "secret", "output"[, "end"]}`` (``job``: :meth:`checker.wire.GradingJob.to_json`;
one it cannot read is refused with a signed ``grader-error``). Its standard input and output, as
started, are the job channel and the results pipe: before any learner code runs both are moved to
private descriptors, and what the learner's code prints goes to the ``output`` file instead, so
nothing printed can pass for a result.

Without ``end`` it exits after the run. With it (the launcher may give it another run of the same
submission), once the run is over it puts back what the run changed (:mod:`checker.process.reuse`)
and ends the run's report with a line ``NUL end again`` (it waits for the next job) or
``NUL end gone <why>`` (something was left that a fresh interpreter would not have: it exits). It
serves :data:`REUSE_LIMIT` runs at most.

Usage: ``python -P -m checker.process.spawned [--warm [--also fastapi,alembic]]``
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
from pathlib import Path

READY = b"R\n"
"""Written once the imports are done, before the job is read (never part of the signed report)."""

FAMILIES = {
    "alembic": ("alembic.command", "alembic.config", "alembic.autogenerate", "checker.authoring.migrations", "logging.config"),
    "fastapi": ("fastapi", "fastapi.testclient", "pydantic.v1"),  # the test client imports its HTTP client
}
"""Libraries only some exercises use (a forking worker imports them while idle): an interpreter
meant for such an exercise imports its family ahead too (``--also fastapi,alembic``). Each family
also names what it imports lazily on every run: FastAPI imports ``pydantic.v1`` at an app's first
route (to tell v1 models apart), an ``env.py`` calls ``logging.config.fileConfig``."""
_MENTIONS = {"fastapi": "fastapi", "alembic": "alembic", "migrations": "alembic"}


def families(checks_file: Path) -> frozenset[str]:
    """The families a run of ``checks_file`` will import: those its text names (read, never run)."""
    try:
        stat = checks_file.stat()
        return _families(str(checks_file), stat.st_mtime_ns, stat.st_size)
    except OSError:
        return frozenset()


def families_of(checks_files) -> frozenset[str]:
    """The families any of ``checks_files`` will import (one interpreter may run them all)."""
    return frozenset().union(*(families(Path(checks_file)) for checks_file in checks_files))


@functools.lru_cache(maxsize=128)
def _families(path: str, _mtime: int, _size: int) -> frozenset[str]:
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    return frozenset(family for word, family in _MENTIONS.items() if re.search(rf"\b{word}\b", text))


REUSE_LIMIT = 8
"""Runs one interpreter serves at most (all of one submission: ``SpawnLauncher`` sees to it)."""


def main(warm: bool, also: tuple[str, ...] = ()) -> None:
    results = os.dup(1)  # the pipe to the runner; fd 1 gets the learner's output below
    jobs = open(os.dup(0), "rb")  # noqa: SIM115 - the job channel, out of the learner's stdin
    if warm:
        import gc

        gc.disable()  # the imports make only objects that live on: collecting meanwhile costs 10-15 %
        from checker.process import warm as worker

        worker._preload(judged=False)  # its runs check beside the learner's code (no judge apart)
        for family in also:
            for name in FAMILIES.get(family, ()):
                worker._import(name)
        gc.freeze()  # as a forked child has them (``checker.process.warm``): the run's collections skip them
        gc.enable()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115 - the learner's code reads nothing
    baseline = None
    if warm:
        from checker.process.reuse import Baseline

        baseline = Baseline()  # taken while nobody waits; compared after each run
    os.write(results, READY)  # the launcher reads this before it hands the pipe to the runner
    for served in range(1, REUSE_LIMIT + 1):
        line = jobs.readline()
        if not line:
            return  # the runner gave up on us (a spare never used), or no run is left for us
        message = json.loads(line)
        _run(message, results)
        end = message.get("end")  # a launcher that may give us another run of this submission
        if not end or baseline is None:
            return
        _flush()
        _let_go_of_output()  # the runner removes the run's output file (Windows cannot while it is open)
        try:
            why = baseline.restore(message.get("job", {}).get("learner_dir"))
        except Exception as error:  # noqa: BLE001 - whatever the run left that cannot be put back
            why = f"what the run changed could not be put back ({type(error).__name__}: {error})"
        again = why is None and served < REUSE_LIMIT
        word = "again" if again else "gone " + (why or f"served {served} runs").replace("\n", " ")[:200]
        os.write(results, f"\0{end} {word}\n".encode())
        if not again:
            return


def _run(message: dict, results: int) -> None:
    import random

    random.seed()  # as a fresh interpreter: nothing a run before drew or seeded carries over
    secret = message["secret"]
    output = os.open(message["output"], os.O_WRONLY | os.O_APPEND)
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.close(output)
    from checker.process import harness
    from checker.wire import GradingJob, WireError

    try:
        job = GradingJob.from_json(message["job"])
    except WireError as error:
        harness.refuse(results, secret, f"the grading process was sent a job it cannot read, so it did not run: {error}")
        return
    harness.run_job(job, secret, results)


def _let_go_of_output() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)


def _flush() -> None:
    from checker.process.harness import flush_streams

    flush_streams()


def _end_descendants() -> None:
    """Kill what the learner's code started and left running: once this process is gone they
    would be nobody's (no process groups or subreaper the portable way), so end them first."""
    try:
        import psutil

        for process in psutil.Process().children(recursive=True):
            try:
                process.kill()
            except psutil.Error:
                pass
    except Exception:  # no psutil, or the tree changed under us: the runner's own walk remains
        pass


if __name__ == "__main__":
    try:
        arguments = sys.argv[1:]
        also = arguments[arguments.index("--also") + 1].split(",") if "--also" in arguments[:-1] else []
        main("--warm" in arguments, tuple(also))
    finally:
        try:
            _end_descendants()
            _flush()
        finally:
            os._exit(0)  # do not wait for threads the learner may have left running
