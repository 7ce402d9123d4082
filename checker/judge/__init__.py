"""Verdicts from evidence the learner's code cannot touch: the learner's process acts, the judge judges.

A grading run of an exercise whose ``checks.py`` declares acts (``@act``) is two processes:

- **the judge** (:mod:`checker.judge.process`) runs every check function. It never imports or
  runs learner code; it holds the run's database connection, reads the SQL Postgres received
  from the server's own statement log (:mod:`checker.judge.serverlog`), reads the learner's files
  as they were when the run began, and is the only process with the report's pipe and key;
- **the witness** (:mod:`checker.judge.witness`) imports the learner's modules and then only
  serves requests: "run act NAME with these JSON arguments". It replies with plain JSON of
  bounded size (or an exception summary), never a status; no check function runs there.

What only the learner's process can see (in-memory behaviour) is *testimony*: such checks are
declared ``@check(..., testimony=True)`` (or inferred: a check that ran acts and used no outside
evidence) and their results say so (``CheckResult.evidence``). An exercise whose ``checks.py``
declares no act runs as before, beside the learner's code, and all its checks are testimony.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

__all__ = ["judged"]


@functools.lru_cache(maxsize=64)
def _declares_acts(checks_file: str, _stamp: tuple[int, int]) -> bool:
    try:
        tree = ast.parse(Path(checks_file).read_bytes())
    except (OSError, SyntaxError, ValueError):
        return False
    for node in tree.body:
        for decorator in getattr(node, "decorator_list", []):
            if (getattr(decorator, "id", None) or getattr(decorator, "attr", None)) == "act":
                return True
    return False


def judged(checks_file: Path) -> bool:
    """Whether ``checks_file`` declares acts (read from its source, never imported): its checks then
    run in a judge process, apart from the learner's code."""
    try:
        stat = Path(checks_file).stat()
    except OSError:
        return False
    return _declares_acts(str(checks_file), (stat.st_mtime_ns, stat.st_size))
