"""The one base of every error a user can cause or meet: ``str()`` is one line, cause and fix.

The CLI turns any of them into ``course: error: …`` and exit code 2, never a traceback.
"""


class CourseError(Exception):
    """A problem with configuration, environment or content (not a bug in course)."""
