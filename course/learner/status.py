"""Status of every section and exercise, from the progress store: ``course list``."""

from __future__ import annotations

from checker.results import Status
from course.content.model import Module
from course.learner.workspace import Workspace, grader_fingerprint


def exercise_status(workspace: Workspace | None, exercise) -> str:
    """``pass``, ``fail``, ``error``, ``not started``, or ``re-check`` (the grader changed since)."""
    if workspace is None:
        return "not started"
    latest = workspace.progress.latest(exercise.full_id)
    if latest is None:
        return "not started"
    if latest.grader != grader_fingerprint(exercise):
        return "re-check"
    return latest.status


def module_status(module: Module, workspace: Workspace | None) -> dict:
    sections = []
    for section in module.sections:
        sections.append(
            {
                "id": section.id,
                "number": section.number,
                "title": section.title,
                "quiz_only": section.quiz_only,
                "exercises": [
                    {"id": e.full_id, "title": e.title, "status": exercise_status(workspace, e)} for e in section.exercises
                ],
            }
        )
    return {
        "id": module.id,
        "title": module.title,
        "subtitle": module.subtitle,
        "sections": sections,
        "broken": [str(problem) for problem in module.problems],
    }


def print_status(data: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    marks: dict[str, str] = {
        **{status: f"[{status.colour}]{status.glyph} {status.word}[/]" for status in Status},
        "re-check": "[cyan]↻ re-check[/]",
        "not started": "[dim]· not started[/]",
    }
    for module in data:
        table = Table(title=f"{module['subtitle']} — {module['title']} ({module['id']})", title_justify="left")
        table.add_column("§", justify="right")
        table.add_column("section")
        table.add_column("exercise")
        table.add_column("status")
        for section in module["sections"]:
            if section["quiz_only"]:
                table.add_row(str(section["number"]), section["title"], "[dim]quiz[/]", "")
            for exercise in section["exercises"]:
                short = exercise["id"].split("/", 1)[1]
                table.add_row(str(section["number"]), section["title"], short, marks[exercise["status"]])
        console.print(table)
        for problem in module["broken"]:
            console.print(f"[yellow]broken exercise:[/] {problem}")
