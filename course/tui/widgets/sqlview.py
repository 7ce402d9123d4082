"""The SQL the learner's code sent during the last check: numbered, highlighted, folded, marked."""

from __future__ import annotations

from rich.console import Group
from rich.syntax import Syntax
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from checker.results import ExerciseResult


class SqlView(VerticalScroll):
    """One block per check that sent SQL; the offending statements marked ▶ in red."""

    def show_message(self, text: str) -> None:
        self.remove_children()
        self.mount(Static(text, classes="placeholder"))

    def show_result(self, result: ExerciseResult) -> None:
        self.remove_children()
        shown = False
        # failing checks first: that is where the SQL explains something
        for check in sorted(result.checks, key=lambda c: c.status == "pass"):
            if not check.statements:
                continue
            shown = True
            colour = "green" if check.status == "pass" else "red"
            self.mount(Static(f"[{colour}]{check.name}[/] — {len(check.statements)} statement group(s)", classes="sql-title"))
            for number, view in enumerate(check.statements, 1):
                parts: list = [Syntax(view.sql, "sql", word_wrap=True, background_color="default")]
                extra = "  ".join(p for p in (view.location, view.note) if p)
                repeat = f"× {view.count}  " if view.count > 1 else ""
                if extra or repeat:
                    parts.append(Text(f"↳ {repeat}{extra}", style="bold red" if view.flagged else "dim"))
                marker = "▶" if view.flagged else " "
                self.mount(Static(Group(Text(f"{marker}{number:>3}.", style="red" if view.flagged else "dim"), *parts),
                                  classes="statement flagged" if view.flagged else "statement"))
        if not shown:
            self.mount(Static("The last check captured no SQL from your code.", classes="placeholder"))
