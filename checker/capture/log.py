"""Capture every statement the learner's code sends, on every engine, as logical statements.

Hooks are installed once, on the ``Engine`` and ``Session`` classes, so engines and sessions the
learner creates are seen too. Engines the grader creates (see :func:`grader_engine`) are skipped,
so seeding data never counts against the learner. Hooks only record; they never raise.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from checker.capture.shape import Shape

_grader_engines: weakref.WeakSet = weakref.WeakSet()
_active: list[StatementLog] = []
_orm_context = threading.local()
_learner_root: Path | None = None
_installed = False


@dataclass
class CapturedStatement:
    """One logical statement: cursor calls that share an execution context count once."""

    sql: str
    parameters: object = None
    location: str | None = None
    """``file.py:line`` of the learner's code that caused it (first learner frame on the stack)."""
    lazy_load: str | None = None
    """``User.documents`` when this statement is a lazy load of that attribute."""
    relationship_load: str | None = None
    """The attribute an eager loader (selectinload, subqueryload...) is loading, if any."""
    batches: int = 1
    _context: object = field(default=None, repr=False, compare=False)
    """The execution context, held so that its id() cannot be reused by a later statement."""

    @property
    def shape(self) -> Shape:
        return Shape(self.sql)

    @property
    def rows(self) -> int:
        """Rows this statement carried: an executemany counts each of its parameter sets."""
        params = self.parameters
        if isinstance(params, list | tuple) and params and isinstance(params[0], dict | list | tuple):
            return len(params)
        return 1


class StatementLog(list):
    """The statements captured inside a ``with capture():`` block, oldest first."""

    @property
    def shapes(self) -> list[Shape]:
        return [statement.shape for statement in self]

    def of_kind(self, kind: str, table: str | None = None) -> list[CapturedStatement]:
        """``INSERT``s, ``DELETE``s... (of ``table`` only, when given)."""
        return [s for s in self if s.shape.kind == kind.upper() and (table is None or s.shape.touches(table))]

    @property
    def selects(self) -> list[CapturedStatement]:
        return self.of_kind("SELECT")

    def touching(self, table: str) -> list[CapturedStatement]:
        return [s for s in self if s.shape.touches(table)]

    @property
    def lazy_loads(self) -> list[CapturedStatement]:
        return [s for s in self if s.lazy_load]

    @property
    def data_statements(self) -> list[CapturedStatement]:
        """Everything but transaction control (SAVEPOINT/RELEASE)."""
        return [s for s in self if s.shape.kind != "TRANSACTION"]


def set_learner_root(path: Path) -> None:
    global _learner_root
    _learner_root = path.resolve()


def grader_engine(engine: Engine) -> Engine:
    """Mark ``engine`` as the grader's own: its statements are never captured."""
    _grader_engines.add(engine)
    return engine


@contextlib.contextmanager
def capture():
    """Record statements sent by learner engines while the block runs."""
    install()
    log = StatementLog()
    _active.append(log)
    try:
        yield log
    finally:
        # logs are lists: compare by identity, two equal logs are still different captures
        for index, active in enumerate(_active):
            if active is log:
                del _active[index]
                break


@contextlib.contextmanager
def paused():
    """Stop recording for a moment (e.g. while the grader reads through a learner session)."""
    saved = list(_active)
    _active.clear()
    try:
        yield
    finally:
        _active.extend(saved)


def learner_location() -> str | None:
    """``file.py:line`` of the innermost frame that belongs to the learner's files.

    Async SQLAlchemy (``AsyncEngine``, ``AsyncSession``) runs the sync engine inside a greenlet
    whose stack starts at SQLAlchemy's ``greenlet_spawn``: the learner's ``await`` is on the stack
    of the greenlet that spawned it (suspended at the await boundary), so the parents' stacks are
    searched next, innermost first.
    """
    if _learner_root is None:
        return None
    root = os.path.join(str(_learner_root), "")  # with its separator: a sibling sharing the prefix is not inside
    for top in _stacks(sys._getframe(1)):
        frame: FrameType | None = top
        while frame is not None:
            filename = frame.f_code.co_filename
            if filename.startswith(root):
                return f"{Path(filename).relative_to(_learner_root)}:{frame.f_lineno}"
            frame = frame.f_back
    return None


def _stacks(current: FrameType):
    """The current stack's top frame, then each parent greenlet's (when greenlet is loaded)."""
    yield current
    greenlet = sys.modules.get("greenlet")
    if greenlet is None:
        return
    try:
        parent = greenlet.getcurrent().parent
    except Exception:
        return
    while parent is not None:
        frame = getattr(parent, "gr_frame", None)
        if frame is not None:
            yield frame
        parent = parent.parent


def _before_cursor_execute(conn, cursor, statement, parameters, context, executemany):
    try:
        if not _active or conn.engine in _grader_engines:
            return
        newest = _active[0][-1] if _active[0] else None
        if newest is not None and context is not None and newest._context is context:
            newest.batches += 1  # insertmanyvalues / executemany: one logical statement
            return
        # an autoflush inside a lazy load sends INSERT/UPDATEs too: only SELECTs are the load
        loading = statement.lstrip("( \n").upper().startswith(("SELECT", "WITH"))
        captured = CapturedStatement(
            sql=statement,
            parameters=parameters,
            location=learner_location(),
            lazy_load=getattr(_orm_context, "lazy_load", None) if loading else None,
            relationship_load=getattr(_orm_context, "relationship_load", None) if loading else None,
            _context=context,
        )
        for log in _active:  # nested captures share the same objects, so flags apply to all
            log.append(captured)
    except Exception:  # a hook must never break the learner's query
        pass


def _do_orm_execute(state):
    """Tag the statements of relationship loads with the attribute being loaded."""
    try:
        if not state.is_relationship_load:
            return None
        path = state.loader_strategy_path
        attribute = str(path[-1]) if path is not None and len(path) else None
        key = "lazy_load" if state.lazy_loaded_from is not None else "relationship_load"
    except Exception:
        return None
    previous = getattr(_orm_context, key, None)
    setattr(_orm_context, key, attribute)
    try:
        return state.invoke_statement()
    finally:
        setattr(_orm_context, key, previous)


def install() -> None:
    """Attach the hooks to the Engine and Session classes (idempotent)."""
    global _installed
    if _installed:
        return
    event.listen(Engine, "before_cursor_execute", _before_cursor_execute)
    event.listen(Session, "do_orm_execute", _do_orm_execute)
    _installed = True
