"""The grading engine: runs learner code against a fresh Postgres and reports results as data.

This package never imports the UI. ``checks.py`` files of exercises import from here::

    from checker import check, fixture, fail

The parent side (``checker.process.runner``) imports no SQLAlchemy; the child side (``checker.process.harness``,
``checker.capture.log``, ``checker.fixtures``) runs inside the grading subprocess.
"""

from checker.api import CheckFailed, check, database_reason, fail, fixture, step

__all__ = ["CheckFailed", "check", "database_reason", "fail", "fixture", "step"]
