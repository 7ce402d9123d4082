"""The check authors' door: everything an exercise's ``checks.py`` imports, from one place.

    from checker.authoring import check, fail, fixture, step, fix_or_hint

Like pytest's public ``pytest`` over its private ``_pytest``: the modules behind these names
(``checker.api``, ``checker.process.fresh``, ``checker.capture.shape``, ...) may move; the names
here stay. ``docs/authoring.md`` lists them by job. ``from checker import check, fail, fixture``
keeps working for content written before the door.

Grouped by job:

- declaring checks: :func:`check`, :func:`fixture`, :func:`fail`, :class:`CheckFailed`
- teaching failures: :func:`step`, :func:`database_reason`, :func:`fix_or_hint`,
  :func:`starter_untouched`, :func:`learner_traceback`
- a freshly started process: :func:`run_fresh`
- source inspection: :func:`calls`, :func:`uncalled`, :func:`url_literals`, :func:`called_name`
- captured SQL by shape: :class:`Shape`
- DocChat apps and data: :func:`configured_models`, :func:`learner_engine`, :func:`session_factory`,
  :func:`url_mismatch`, :func:`no_url_literal`, :func:`seed`, :func:`first_order_by`,
  :func:`ordering_mistake`, :func:`close_not_called`
- Alembic: the :mod:`migrations` namespace (``migrations.run_alembic``, ``migrations.compare``, ...)
"""

from checker.api import CheckFailed, check, database_reason, fail, fix_or_hint, fixture, starter_untouched, step
from checker.authoring import migrations
from checker.authoring.docchat import (
    close_not_called,
    configured_models,
    first_order_by,
    learner_engine,
    no_url_literal,
    ordering_mistake,
    seed,
    session_factory,
    url_mismatch,
)
from checker.authoring.inspectors import called_name, calls, uncalled, url_literals
from checker.capture.shape import Shape
from checker.process.fresh import run_fresh
from checker.tracebacks import learner_traceback

__all__ = [
    # declaring checks
    "CheckFailed",
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
    # DocChat apps and data
    "close_not_called",
    "configured_models",
    "first_order_by",
    "learner_engine",
    "no_url_literal",
    "ordering_mistake",
    "seed",
    "session_factory",
    "url_mismatch",
    # Alembic
    "migrations",
]
