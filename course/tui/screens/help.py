"""Every key of the app."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# Keys

| key | does |
|---|---|
| **n** / **p** | next / previous section |
| **1**–**4** | show the lesson, exercise, results or SQL tab |
| **c** | check the current exercise (saving a file checks too) |
| **x** | cancel a running check |
| **enter** | after a pass: move on to the next section |
| **h** | reveal the next hint |
| **s** | the reference solution (after a pass, or when asked twice) |
| **r** | reset the exercise to its starter (asks first; keeps a backup) |
| **e** | edit the exercise files here (ctrl+s saves, F2 switches file, escape returns) |
| **o** | open the exercise's main file in `$VISUAL` / `$EDITOR` (without one: edit here) |
| **q** | the section's quiz (section 14: the final check) |
| **ctrl+p** | command palette: every action by name |
| **?** | this help |
| **ctrl+q** | quit (stops the Postgres server) |

Press **escape** to close.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [("escape,question_mark,q", "dismiss_help", "Close")]

    def compose(self) -> ComposeResult:
        yield Markdown(HELP, id="help")

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
