"""The SQL the learner's code sent during the last check: numbered, highlighted, folded, marked."""

from __future__ import annotations

from rich.console import Group
from textual.containers import VerticalScroll
from textual.widgets import Static

from checker.results import ExerciseResult, Status
from course.render import COLOURS, statement_body, statement_marker


class SqlView(VerticalScroll):
    """One block per check that sent SQL; the offending statements marked ▶ in red.

    Each statement is drawn by the CLI's renderer (``course.render``), one widget per statement
    so that the flagged ones can be styled (and found).
    """

    def show_message(self, text: str) -> None:
        self.remove_children()
        self.mount(Static(text, classes="placeholder"))

    def show_result(self, result: ExerciseResult) -> None:
        self.remove_children()
        shown = False
        # failing checks first: that is where the SQL explains something
        for check in sorted(result.checks, key=lambda c: c.passed):
            if not check.statements:
                continue
            shown = True
            colour = COLOURS[Status.PASS] if check.passed else COLOURS[Status.FAIL]
            self.mount(Static(f"[{colour}]{check.name}[/] — {len(check.statements)} statement group(s)", classes="sql-title"))
            for number, view in enumerate(check.statements, 1):
                self.mount(
                    Static(
                        Group(statement_marker(number, view, width=3), statement_body(view)),
                        classes="statement flagged" if view.flagged else "statement",
                    )
                )
        if not shown:
            self.mount(Static("The last check captured no SQL from your code.", classes="placeholder"))
