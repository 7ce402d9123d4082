"""Run the learner's code as a freshly started process would, without paying for a new interpreter.

Checks such as "documents POSTed in one process come back from a freshly started one" need the
learner's app to start from nothing: module-level state (an in-memory list, an engine, a cache)
must not survive. A new interpreter gives that, at the price of importing SQLAlchemy and FastAPI
again (about a second each time). :func:`run_fresh` forks the grading process instead and forgets
every module that comes from the learner's folder before running the script, so the learner's
code is imported anew while the libraries stay loaded: a few tens of milliseconds.

Where ``fork`` is missing or unsafe (Windows, macOS: ``platform.fork_is_safe``), a new
interpreter runs the script (same result, slower).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Finished:
    returncode: int | None
    """0 on success; a negative signal number if killed; None if it timed out (and was killed)."""
    stderr: str
    """What the process printed on stderr, including the traceback of an uncaught exception."""


def run_fresh(learner_dir: Path, script: str, args: list[str], timeout: float) -> Finished:
    """Run ``script`` as ``__main__`` with ``sys.argv[1:] == args``, in ``learner_dir``, in a process
    that imports the learner's modules anew."""
    from checker.process import platform

    if not platform.fork_is_safe():
        return _in_new_interpreter(learner_dir, script, args, timeout)
    with tempfile.TemporaryFile() as errors:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child ends in os._exit
            _child(learner_dir, script, args, errors.fileno())
        status = _wait(pid, timeout)
        errors.seek(0)
        text = errors.read().decode("utf-8", errors="replace")
    return Finished(status, text)


def _child(learner_dir: Path, script: str, args: list[str], errors: int) -> None:
    code = 1
    try:
        os.dup2(errors, 2)
        os.dup2(errors, 1)
        sys.stdout = open(1, "w", buffering=1, closefd=False, encoding="utf-8")  # whatever they were bound to before
        sys.stderr = open(2, "w", buffering=1, closefd=False, encoding="utf-8")
        root = learner_dir.resolve()
        for name, module in list(sys.modules.items()):  # a fresh start: the learner's code is imported anew
            filename = getattr(module, "__file__", None)
            if filename and Path(filename).resolve().is_relative_to(root):
                del sys.modules[name]
        os.chdir(root)
        sys.argv = ["-c", *args]
        exec(compile(script, "<grader>", "exec"), {"__name__": "__main__"})
        code = 0
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
        if exit.code not in (None, 0):
            traceback.print_exc()
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _wait(pid: int, timeout: float) -> int | None:
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None
        time.sleep(0.005)


def _in_new_interpreter(learner_dir: Path, script: str, args: list[str], timeout: float) -> Finished:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        done = subprocess.run(
            [sys.executable, "-c", script, *args],
            cwd=learner_dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            encoding="utf-8",
        )
    except subprocess.TimeoutExpired:
        return Finished(None, "")
    return Finished(done.returncode, done.stderr)
