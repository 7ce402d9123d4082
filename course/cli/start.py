"""``course start``: open the Textual app at the student's last position."""

from __future__ import annotations


def run_start(ctx, module) -> None:
    from course.tui.app import CourseApp

    workspace = ctx.workspace()  # creates it on first run, and says where
    app = CourseApp(module, workspace, ctx.database_session_opener())
    app.run()
    workspace.close()
