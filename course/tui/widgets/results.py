"""The results of the last check: ✓/✗ per check with its message."""

from __future__ import annotations

from rich.markup import escape
from textual.containers import VerticalScroll
from textual.widgets import Static

from checker.results import ExerciseResult
from course.render import COLOURS, ICONS, common_error


class ResultsView(VerticalScroll):
    """Each check with its status; failing ones with the teaching message.

    Learner-facing text (messages, printed output) is shown literally: it is full of code such as
    ``Mapped[str]`` that markup would eat.
    """

    def show_message(self, text: str) -> None:
        """``text`` is markup written by the app; escape any part that comes from elsewhere."""
        self.remove_children()
        self.mount(Static(text, classes="placeholder"))

    def show_result(self, result: ExerciseResult, note: str = "") -> None:
        """``note``: a line above the result, e.g. when it was recorded (after a restart)."""
        self.remove_children()
        if note:
            self.mount(Static(escape(note), classes="placeholder"))
        colour = COLOURS[result.status]
        passed = sum(1 for c in result.checks if c.status == "pass")
        self.mount(
            Static(
                f"[b]{escape(result.exercise)}[/]  [{colour}]{result.status.upper()}[/]  "
                f"{passed}/{len(result.checks)} checks · {result.duration_s:.2f} s",
                classes="summary",
            )
        )
        shared = common_error(result)
        if shared is not None:
            waiting = len(result.checks) - passed
            self.mount(
                Static(
                    f"{ICONS['error']} Your code could not run, so none of its {waiting} checks ran. The one thing to fix:",
                    classes="check",
                )
            )
            self.mount(Static(escape(shared), classes="message error"))
        for check in result.checks:
            if shared is not None and check.status != "pass":
                continue
            self.mount(
                Static(
                    f"{ICONS[check.status]} {escape(check.title or check.name)} [dim]({escape(check.name)})[/]", classes="check"
                )
            )
            if check.status != "pass" and check.message:
                self.mount(Static(escape(check.message), classes=f"message {check.status}"))
        if result.status == "pass":
            self.mount(Static("[green]All checks pass.[/] Press [b]enter[/] to move on when you are ready.", classes="next"))
        elif result.output.strip():
            tail = "\n".join(result.output.strip().splitlines()[-12:])
            self.mount(Static(f"[dim]Your code printed:[/]\n{escape(tail)}", classes="output"))
