"""The check-authoring API: declaring checks and fixtures, failing with a message.

An exercise's ``checks.py`` reaches these names through ``checker.authoring``, the door for
check authors; this module may move, that one stays.

A check is a function decorated with :func:`check`. Its parameters are fixtures, resolved by
name as in pytest: the built-in ones (see ``checker.fixtures``) and any defined with
:func:`fixture` in the same ``checks.py``. A check passes when it returns; it fails with the
message of an ``assert`` or of :func:`fail`. Every check starts on an empty database.

Example::

    from checker.authoring import check, fail

    @check("email-unique", "users.email is UNIQUE")
    def email_unique(learner, db, schema):
        learner.models.Base.metadata.create_all(db)
        users = schema.table("users")
        assert users.is_unique("email"), (
            "users.email must be UNIQUE: add unique=True to mapped_column(...)"
            f" ({learner.where('User', 'email')})"
        )
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field


class CheckFailed(AssertionError):
    """Raised by :func:`fail`: the learner's code ran, and a check did not hold."""


def fail(message: str) -> None:
    """Fail the current check with ``message`` (say what was expected, what happened, the fix)."""
    raise CheckFailed(message)


def database_reason(error: BaseException) -> str:
    """The first line of what went wrong: the driver's message inside SQLAlchemy's wrapper, without
    SQLAlchemy's "Background on this error" link."""
    orig = getattr(error, "orig", None)
    lines = str(orig if orig is not None else error).strip().splitlines()
    return (lines[0] if lines else type(error).__name__).split(" (Background on this error")[0]


@contextlib.contextmanager
def step(what: str, where: str = ""):
    """Run ORM code on the learner's models; an error it raises becomes a failure that says what
    was being done (``what``) and where to look (``where``, e.g. ``models.py:12``)."""
    from sqlalchemy.exc import SQLAlchemyError  # here: the parent side never imports SQLAlchemy

    try:
        yield
    except (SQLAlchemyError, TypeError, AttributeError, ValueError) as error:
        fail(f"{what} raised {type(error).__name__}: {database_reason(error)}" + (f" ({where})" if where else ""))


_UNTOUCHED: dict[tuple[str, str], bool] = {}


def starter_untouched(learner, exercise_dir) -> bool:
    """Whether the learner's folder still holds the exercise's starter unchanged (every starter file
    identical, no revision added): the learner has not tried yet."""
    from pathlib import Path

    starter = Path(exercise_dir) / "starter"
    key = (str(learner.dir), str(starter))
    if key not in _UNTOUCHED:
        files = [p for p in starter.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
        same = bool(files) and all(
            (learner.dir / f.relative_to(starter)).is_file()
            and (learner.dir / f.relative_to(starter)).read_bytes() == f.read_bytes()
            for f in files
        )
        versions = learner.dir / "alembic" / "versions"
        if same and versions.is_dir():
            same = {p.name for p in versions.glob("*.py")} == {p.name for p in (starter / "alembic" / "versions").glob("*.py")}
        _UNTOUCHED[key] = same
    return _UNTOUCHED[key]


def fix_or_hint(learner, exercise_dir, fix: str) -> str:
    """``fix`` — the code to write — unless the learner has not touched the starter yet: a first
    failure names the mistake, the concept and the place, and points to the hint instead of
    handing over the line (``course hint``, ``h`` in the app, gives it when asked)."""
    from pathlib import Path

    if starter_untouched(learner, exercise_dir):
        return f"A hint is available: `course hint {Path(exercise_dir).name}` (or press h in the app)"
    return fix


@dataclass
class CheckSpec:
    name: str
    title: str
    function: Callable
    timeout: float | None = None
    testimony: bool = False
    """Declared testimony: the verdict rests on what the learner's process reports (in-memory
    behaviour only it can see); see ``checker.judge``."""

    @property
    def parameters(self) -> list[str]:
        return list(inspect.signature(self.function).parameters)


@dataclass
class FixtureSpec:
    name: str
    function: Callable
    scope: str = "check"
    """``check``: made for each check, torn down after it; ``run``: made once for all the checks
    of a run (e.g. an engine: connecting costs more than most checks), torn down at the end."""

    @property
    def parameters(self) -> list[str]:
        return list(inspect.signature(self.function).parameters)


@dataclass
class Registry:
    """What a ``checks.py`` declared, in definition order."""

    checks: list[CheckSpec] = field(default_factory=list)
    fixtures: dict[str, FixtureSpec] = field(default_factory=dict)
    acts: dict[str, Callable] = field(default_factory=dict)
    """Functions marked :func:`act`, by name: what the learner's process runs when the judge asks."""


_current = Registry()


def check(name: str, title: str = "", *, timeout: float | None = None, testimony: bool = False):
    """Declare a check. ``name`` is its stable id (kebab-case); ``title`` a short human label.

    ``timeout`` (seconds) overrides the exercise's per-check limit. ``testimony``: the verdict
    rests on what the learner's process reports (e.g. in-memory behaviour before any flush), and
    results and docs say so (see docs/authoring.md, "Acts and checks").
    """

    def decorate(function: Callable) -> Callable:
        if any(existing.name == name for existing in _current.checks):
            raise ValueError(f"two checks are named {name!r}")
        doc = (function.__doc__ or "").strip().splitlines()
        _current.checks.append(CheckSpec(name, title or (doc[0] if doc else name), function, timeout, testimony))
        return function

    return decorate


def act(function: Callable) -> Callable:
    """Mark a module-level function of ``checks.py`` as an act: what runs beside the learner's code,
    in the learner's process, when a check asks with ``learner.run(act, *args)``. Its first
    parameter is the act's context (``ctx.learner``, ``ctx.engine``, ``ctx.database_url``,
    ``ctx.state``); the other arguments and what it returns are plain JSON data. It may be
    ``async def``. An act never decides a verdict: the check does, in the judge."""
    if function.__name__ in _current.acts:
        raise ValueError(f"two acts are named {function.__name__!r}")
    _current.acts[function.__name__] = function
    function.__course_act__ = function.__name__  # type: ignore[attr-defined]
    return function


SCOPES = ("check", "run")


def fixture(function: Callable | None = None, *, scope: str = "check"):
    """Declare a fixture named after the function: ``@fixture`` or ``@fixture(scope="run")``.

    ``yield`` once to run teardown after the check (or, with ``scope="run"``, after the last
    check of the run). A run-scoped fixture may use only built-in and other run-scoped fixtures.
    """
    if scope not in SCOPES:
        raise ValueError(f"fixture scope must be one of {', '.join(SCOPES)}, not {scope!r}")

    def declare(function: Callable) -> Callable:
        _current.fixtures[function.__name__] = FixtureSpec(function.__name__, function, scope)
        return function

    return declare(function) if function is not None else declare


def take_registry() -> Registry:
    """Hand over what has been declared since the last call (used by the harness)."""
    global _current
    registry, _current = _current, Registry()
    return registry
