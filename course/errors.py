"""The one base of every error a user can cause or meet: ``str()`` is one line, cause and fix.

The CLI turns any of them into ``course: error: …`` and exit code 2, never a traceback.
"""


class CourseError(Exception):
    """A problem with configuration, environment or content (not a bug in course)."""


def postgres_environment_error(error: OSError) -> str:
    """One line for an OS error met while preparing the throwaway Postgres (a case the embedded
    backend's preflight does not foresee), instead of a traceback."""
    where = f" ({error.filename})" if error.filename else ""
    return (
        f"the throwaway Postgres could not be prepared: {error.strerror or error}{where}; "
        "fix: run `course doctor`, or export COURSE_STATE_DIR=<a folder you can write>"
    )
