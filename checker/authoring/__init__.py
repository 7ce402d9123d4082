"""The check authors' door: everything an exercise's ``checks.py`` imports, from one place.

    from checker.authoring import check, fail, fixture, step, fix_or_hint

Like pytest's public ``pytest`` over its private ``_pytest``: the modules behind these names
(``checker.api``, ``checker.process.fresh``, ``checker.capture.shape``, ...) may move; the names
here stay. ``docs/authoring.md`` lists them by job. ``from checker import check, fail, fixture``
keeps working for content written before the door.

Grouped by job:

- declaring checks: :func:`check`, :func:`fixture`, :func:`fail`, :class:`CheckFailed`; :func:`act`,
  what runs beside the learner's code while the checks run apart (docs/authoring.md, "Acts and checks")
- teaching failures: :func:`step`, :func:`database_reason`, :func:`fix_or_hint`,
  :func:`starter_untouched`, :func:`learner_traceback`
- a freshly started process: :func:`run_fresh`
- source inspection: :func:`calls`, :func:`uncalled`, :func:`url_literals`, :func:`called_name`
- captured SQL by shape: :class:`Shape`
- indexes and query plans: :func:`explain`, :class:`Plan`, :class:`PlanNode` (indexes:
  ``schema.table(name).indexes``)
- a module's own helpers: :func:`module_helpers` and ``from checker.authoring.shared import NAME``
  (``exercises/<module>/_shared/helpers.py``)
- Alembic: the :mod:`migrations` namespace (``migrations.run_alembic``, ``migrations.compare``, ...)

Deprecated: the DocChat helpers (``configured_models``, ``learner_engine``, ``session_factory``,
``url_mismatch``, ``no_url_literal``, ``seed``, ``first_order_by``, ``ordering_mistake``,
``close_not_called``) moved into the built-in course's content
(``exercises/sqlalchemy-2/_shared/helpers.py``); importing them from here still works for content
written before 0.2, with a ``DeprecationWarning``, and will stop in 0.3.
"""

import warnings as _warnings

from checker.api import CheckFailed, act, check, database_reason, fail, fix_or_hint, fixture, starter_untouched, step
from checker.authoring import migrations
from checker.authoring.inspectors import called_name, calls, uncalled, url_literals
from checker.authoring.plans import Plan, PlanNode, explain
from checker.authoring.shared import module_helpers
from checker.capture.shape import Shape
from checker.process.fresh import run_fresh
from checker.tracebacks import learner_traceback

__all__ = [
    # declaring checks
    "CheckFailed",
    "act",
    "check",
    "fail",
    "fixture",
    # teaching failures
    "database_reason",
    "fix_or_hint",
    "learner_traceback",
    "starter_untouched",
    "step",
    # a freshly started process
    "run_fresh",
    # source inspection
    "called_name",
    "calls",
    "uncalled",
    "url_literals",
    # captured SQL by shape
    "Shape",
    # indexes and query plans
    "Plan",
    "PlanNode",
    "explain",
    # a module's own helpers
    "module_helpers",
    # Alembic
    "migrations",
]

_DEPRECATED_DOCCHAT = frozenset(
    {
        "close_not_called",
        "configured_models",
        "first_order_by",
        "learner_engine",
        "no_url_literal",
        "ordering_mistake",
        "seed",
        "session_factory",
        "url_mismatch",
    }
)


def __getattr__(name: str):
    """The DocChat helpers' old names (deprecated: they are the built-in course's, now in its content)."""
    if name in _DEPRECATED_DOCCHAT:
        _warnings.warn(
            f"checker.authoring.{name} is deprecated: the DocChat helpers are the built-in course's content "
            f"(exercises/sqlalchemy-2/_shared/helpers.py); put your module's helpers in exercises/<module>/_shared/helpers.py "
            f"and import them with `from checker.authoring.shared import {name}`",
            DeprecationWarning,
            stacklevel=2,
        )
        from checker.authoring import docchat

        return getattr(docchat, name)
    raise AttributeError(f"module 'checker.authoring' has no attribute {name!r}")
