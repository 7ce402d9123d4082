"""``course export classroom``: GitHub Classroom was sunset; its successor is the plain GitHub
Actions template of :mod:`course.grading.actions` (``course export actions``), which this name
still reaches."""

from course.grading.actions import ActionsError, build, readme, workflow

ClassroomError = ActionsError

__all__ = ["ActionsError", "ClassroomError", "build", "readme", "workflow"]
