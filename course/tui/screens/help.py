"""The keys of the screen the learner is on, in a box that scrolls."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

MAIN_KEYS = """\
# Keys

| key | does |
|---|---|
| **n** / **p** | next / previous section |
| **1**–**4** | the lesson, exercise, results or SQL tab |
| **pgup** / **pgdn**, **↑** / **↓** | scroll the tab you are on |
| **tab** | move between the sections list and the tab |
| **c** | check the exercise (saving a file checks too) |
| **x** | cancel a running check |
| **enter** | after a pass: on to the next section |
| **h** | the next hint (they stay on the exercise tab) |
| **s** | the solution (after a pass, or asked twice) |
| **r** | reset to the starter (asks; keeps a backup) |
| **o** | open the main file in `$VISUAL` / `$EDITOR` |
| **e** | edit here (ctrl+s saves, F2 next file) |
| **q** | the section's quiz (14: the final check) |
| **ctrl+p** | every action by name |
| **ctrl+q** | quit (stops the Postgres server) |

**escape** or **?** closes this; **↑** / **↓** scroll it.
"""


class HelpScreen(ModalScreen[None]):
    """``keys``: Markdown listing the keys of the screen underneath (the main screen's by default)."""

    BINDINGS = [("escape,question_mark,q", "dismiss_help", "Close")]

    def __init__(self, keys: str = MAIN_KEYS):
        super().__init__()
        self.keys = keys

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Markdown(self.keys)

    def on_mount(self) -> None:
        self.query_one("#help", VerticalScroll).focus()  # so that the arrows and page keys scroll it

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
