"""The results of the last check: ✓/✗ per check with its message."""

from __future__ import annotations

from rich.markup import escape
from textual.containers import VerticalScroll
from textual.widgets import Static

from checker.results import ExerciseResult

ICONS = {"pass": "[green]✓[/]", "fail": "[red]✗[/]", "error": "[yellow]![/]"}


class ResultsView(VerticalScroll):
    """Each check with its status; failing ones with the teaching message."""

    def show_message(self, text: str) -> None:
        self.remove_children()
        self.mount(Static(text, classes="placeholder"))

    def show_result(self, result: ExerciseResult) -> None:
        self.remove_children()
        colour = {"pass": "green", "fail": "red", "error": "yellow"}[result.status]
        passed = sum(1 for c in result.checks if c.status == "pass")
        self.mount(Static(
            f"[b]{result.exercise}[/]  [{colour}]{result.status.upper()}[/]  "
            f"{passed}/{len(result.checks)} checks · {result.duration_s:.2f} s",
            classes="summary",
        ))
        for check in result.checks:
            self.mount(Static(f"{ICONS[check.status]} {escape(check.title or check.name)} [dim]({check.name})[/]", classes="check"))
            if check.status != "pass" and check.message:
                self.mount(Static(escape(check.message), classes=f"message {check.status}"))
        if result.status == "pass":
            self.mount(Static("[green]All checks pass.[/] Press [b]enter[/] to move on when you are ready.", classes="next"))
        elif result.output.strip():
            tail = "\n".join(result.output.strip().splitlines()[-12:])
            self.mount(Static(f"[dim]Your code printed:[/]\n{escape(tail)}", classes="output"))
