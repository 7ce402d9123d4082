"""``course edit`` without ``$VISUAL``/``$EDITOR``: the app's built-in editor, on its own."""

from __future__ import annotations

from pathlib import Path

from textual.app import App

from course.tui.screens.editor import EditorScreen


class EditApp(App):
    """The exercise's files in the built-in editor; escape quits."""

    CSS_PATH = "app.tcss"
    TITLE = "course edit"

    def __init__(self, files: list[Path]):
        super().__init__()
        self.files = files

    def on_mount(self) -> None:
        self.push_screen(EditorScreen(self.files, rechecks=False), lambda _closed: self.exit())
