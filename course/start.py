"""``course start``: open the course at the student's last position.

Until the Textual app lands, this shows the current lesson in the terminal and what to do next.
"""

from __future__ import annotations


def run_start(ctx) -> None:
    from rich.console import Console
    from rich.markdown import Markdown
    from rich.panel import Panel

    from course.status import exercise_status

    workspace = ctx.workspace()
    modules = ctx.modules
    module = modules[0]
    position = workspace.progress.get("position")
    exercises = module.exercises
    current = next((e for e in exercises if e.full_id == position), None)
    if current is None or exercise_status(workspace, current) == "pass":
        current = next((e for e in exercises if exercise_status(workspace, e) != "pass"), exercises[-1])
    workspace.progress.set("position", current.full_id)
    section = next(s for s in module.sections if current in s.exercises)
    console = Console()
    console.print(f"[bold]{module.subtitle} — {module.title}[/]   workspace: {workspace.root}")
    if section.lesson.exists():
        console.print(Markdown(section.lesson.read_text()))
    folder = workspace.folder(current)
    console.print(Panel(
        Markdown(current.task),
        title=f"Exercise {current.id} — {current.title}",
        subtitle=f"edit: {', '.join(str(folder / f) for f in current.edit)}",
    ))
    console.print(
        f"Next: edit the files above, then `course check {current.id}` (or `course watch` to re-check on "
        f"every save). `course hint {current.id}` gives a hint; `course list` shows where you are."
    )
