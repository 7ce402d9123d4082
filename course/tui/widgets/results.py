"""The results of the last check: the layout of ``course.render`` (the terminal's), one widget a line."""

from __future__ import annotations

from rich.markup import escape
from textual.containers import VerticalScroll
from textual.widgets import Static

from checker.results import ExerciseResult
from course.render import result_layout


class ResultsView(VerticalScroll):
    """Each check with its status; failing ones with the teaching message.

    Learner-facing text (messages, printed output) is shown literally (rich ``Text``, never
    markup): it is full of code such as ``Mapped[str]`` that markup would eat.
    """

    def show_message(self, text: str) -> None:
        """``text`` is markup written by the app; escape any part that comes from elsewhere."""
        self.remove_children()
        self.mount(Static(text, classes="placeholder"))

    def show_result(self, result: ExerciseResult, note: str = "", after_pass: str = "") -> None:
        """``note``: a line above the result, e.g. when it was recorded (after a restart);
        ``after_pass``: what a pass leads to (the next section)."""
        self.remove_children()
        widgets = [Static(escape(note), classes="placeholder")] if note else []
        for line in result_layout(result, sql=False):  # the SQL has a tab of its own
            classes = f"message {line.status}" if line.kind == "message" else line.kind
            widgets.append(Static(line.text, classes=classes))
        if result.passed:
            follows = escape(after_pass or "Press enter to move on when you are ready.")
            widgets.append(Static(f"[green]All checks pass.[/] {follows}", classes="next"))
        self.mount_all(widgets)
