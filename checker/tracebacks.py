"""Tracebacks shaped for the learner: their own frames only, a syntax error with its caret.

Used by the harness for a learner's exception (at import, or in a check) and by checks that
show one themselves (``checker.authoring`` re-exports :func:`learner_traceback`).
"""

from __future__ import annotations

import os
import re
import traceback
from pathlib import Path

MAX_FRAMES = 6
"""The learner's innermost frames shown."""
MAX_MESSAGE = 400
"""Characters of the exception's own message shown."""


def learner_traceback(error: BaseException, learner_dir: Path) -> str:
    """The exception with only the learner's frames; a SyntaxError shows the line and caret."""
    root = os.path.join(str(learner_dir), "")  # with its separator: a sibling sharing the prefix is not inside
    if isinstance(error, SyntaxError) and error.filename and error.filename.startswith(root):
        where = f"{Path(error.filename).relative_to(learner_dir)}:{error.lineno}"
        text = (error.text or "").rstrip("\n")
        caret = ""
        if text and error.offset:
            caret = "\n    " + " " * (error.offset - 1 - (len(text) - len(text.lstrip()))) + "^"
        return f"{where}: {type(error).__name__}: {error.msg}\n    {text.strip()}{caret}"
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename.startswith(root)]
    lines = []
    for frame in frames[-MAX_FRAMES:]:
        lines.append(f"{Path(frame.filename).relative_to(learner_dir)}:{frame.lineno} in {frame.name}")
        if frame.line:
            lines.append(f"    {frame.line}")
    first = "\n".join(summary(error, 3))
    lines.append(first[:MAX_MESSAGE] + ("…" if len(first) > MAX_MESSAGE else ""))
    if (fix := advice(error)) is not None:
        lines.append(fix)
    return "\n".join(lines)


KNOWN_ERRORS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    (
        "InvalidRequestError",
        re.compile(r"unique\(\) method must be invoked on this Result.*joined eager loads against collections"),
        "a joined eager load of a collection (joinedload) repeats each parent once per child row, so it needs "
        ".unique() on the result before you take its objects: session.scalars(stmt).unique().all() — or load the "
        "collection with selectinload(), which needs nothing of the kind",
    ),
)
"""Library errors a learner meets often, by exception type name and message: what they mean and
the fix, added under the raw error (the raw error stays: it is what a search engine knows)."""


def advice(error: BaseException) -> str | None:
    """``fix: ...`` for an error of :data:`KNOWN_ERRORS`, else None."""
    text = str(error)
    for type_name, pattern, fix in KNOWN_ERRORS:
        if type(error).__name__ == type_name and pattern.search(text):
            return f"fix: {fix}"
    return None


def touches_learner(error: BaseException, learner_dir: Path) -> bool:
    """Whether the learner's code is in the exception's traceback (so it is theirs to fix)."""
    root = os.path.join(str(learner_dir), "")  # with its separator: a sibling sharing the prefix is not inside
    if isinstance(error, SyntaxError) and (error.filename or "").startswith(root):
        return True
    return any(f.filename.startswith(root) for f in traceback.extract_tb(error.__traceback__))


def summary(error: BaseException, lines: int) -> list[str]:
    """The first ``lines`` lines of ``Type: message``, without any traceback."""
    return "".join(traceback.format_exception_only(type(error), error)).strip().splitlines()[:lines]


def assertion_source(failure: AssertionError) -> str:
    """What a bare ``assert`` that failed says: its own line of source."""
    frames = traceback.extract_tb(failure.__traceback__)
    return f"assertion failed: {frames[-1].line}" if frames else "assertion failed"


def grader_failure(error: BaseException) -> str:
    """The end of the traceback of an exception in the grader itself (for a bug report)."""
    return "".join(traceback.format_exception(type(error), error, error.__traceback__)[-4:]).strip()
