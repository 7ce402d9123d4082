"""The grading engine: runs learner code against a fresh Postgres and reports results as data.

This package never imports the UI. ``checks.py`` files of exercises import from its door for
check authors, ``checker.authoring`` (see ``docs/authoring.md``)::

    from checker.authoring import check, fixture, fail

``from checker import check, fixture, fail`` keeps working for content written before the door.

The parent side (``checker.process.runner``) imports no SQLAlchemy; the child side (``checker.process.harness``,
``checker.capture.log``, ``checker.fixtures``) runs inside the grading subprocess.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from checker.api import CheckFailed, check, database_reason, fail, fixture, step

__all__ = ["CheckFailed", "check", "database_reason", "fail", "fixture", "step"]


def __getattr__(name: str):
    """The names above, imported on first use: ``course --help`` loads ``checker.process.platform``
    and nothing of the check API."""
    if name in __all__:
        from checker import api

        return getattr(api, name)
    raise AttributeError(f"module 'checker' has no attribute {name!r}")
