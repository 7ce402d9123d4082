"""The reference solution, read-only."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import ModalScreen
from textual.widgets import Label, TabbedContent, TabPane, TextArea


class SolutionScreen(ModalScreen[None]):
    BINDINGS = [("escape,s", "close", "Close")]

    def __init__(self, title: str, files: dict[str, str]):
        super().__init__()
        self.heading = title
        self.files = files

    def compose(self) -> ComposeResult:
        yield Label(
            f"Reference solution — {self.heading} (escape closes). Compare, don't copy: type it yourself.", id="solution-title"
        )
        with TabbedContent(id="solution"):
            for index, (name, text) in enumerate(self.files.items()):
                with TabPane(name, id=f"solution-{index}"):
                    yield TextArea.code_editor(text, language="python" if name.endswith(".py") else None, read_only=True)

    def action_close(self) -> None:
        self.dismiss(None)
