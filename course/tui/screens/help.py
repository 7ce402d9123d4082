"""The keys of the screen the learner is on, in a box that scrolls."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from course.render import SECTION_LEGEND

Keys = tuple[tuple[str, str], ...]

MAIN_KEYS: Keys = (
    ("n / p", "next / previous section"),
    ("1–4", "the lesson, exercise, results or SQL tab"),
    ("pgup pgdn ↑ ↓", "scroll the tab you are on"),
    ("tab", "move between the sections list and the tab"),
    ("c", "check the exercise (saving a file checks too)"),
    ("x", "cancel a running check"),
    ("enter", "after a pass: on to the next section"),
    ("h", "the next hint (they stay on the Exercise tab)"),
    ("s", "the reference solution (after a pass, or asked twice)"),
    ("r", "reset to the starter (asks first; keeps a backup)"),
    ("o", "open the main file in $VISUAL / $EDITOR"),
    ("e", "edit here (ctrl+s saves, F2 next file, escape returns)"),
    ("q", "the section's quiz (section 14: the final check)"),
    ("ctrl+p", "every action by name"),
    ("ctrl+q / ctrl+c", "quit (stops the Postgres server)"),
)


class HelpScreen(ModalScreen[None]):
    """``keys``: ``(key, what it does)`` of the screen underneath (the main screen's by default)."""

    BINDINGS = [("escape,question_mark,q", "dismiss_help", "Close")]

    def __init__(self, keys: Keys = MAIN_KEYS, title: str = "Keys"):
        super().__init__()
        self.keys = keys
        self.heading = title
        self.signs: Keys = SECTION_LEGEND if keys is MAIN_KEYS else ()
        """What the sections list's signs mean (under the main screen's keys)."""

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=False, padding=(0, 2, 0, 0), expand=True)
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for key, does in self.keys:
            table.add_row(escape(key), escape(does))
        with VerticalScroll(id="help"):
            yield Static(f"[b]{escape(self.heading)}[/]", id="help-title")
            yield Static(table)
            if self.signs:
                legend = Table(box=None, show_header=False, padding=(0, 2, 0, 0), expand=True)
                legend.add_column(style="bold", no_wrap=True)
                legend.add_column()
                for sign, means in self.signs:
                    legend.add_row(escape(sign), escape(means))
                yield Static("[b]The sections list[/]", classes="help-heading")
                yield Static(legend)
            yield Static("[dim]escape or ? closes this; ↑ ↓ scroll it[/]", id="help-footer")

    def on_mount(self) -> None:
        self.query_one("#help", VerticalScroll).focus()  # so that the arrows and page keys scroll it

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
