"""Edit an exercise file in the app: a Python code editor with save."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Label, TabbedContent, TabPane, TextArea


class EditorScreen(Screen):
    """One tab per file the learner edits; ctrl+s saves (the app's watcher then re-checks)."""

    class Saved(Message):
        """The learner saved: ``written`` are the files whose text changed; ``rechecks`` says
        whether the save is meant to re-check (the course app handles it; the watcher would see
        the written files too, later)."""

        def __init__(self, written: list[Path], rechecks: bool):
            super().__init__()
            self.written = written
            self.rechecks = rechecks

    BINDINGS = [
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("f2", "next_file", "Next file", priority=True),
        Binding("escape", "close", "Back", priority=True),  # else the first escape only leaves the text area
    ]

    def __init__(self, files: list[Path], *, rechecks: bool = True):
        """``rechecks``: a save re-checks the exercise (in the course app; not in ``course edit``)."""
        super().__init__()
        self.files = [f for f in files if f.suffix in (".py", ".ini", ".mako", ".txt", "")]
        self.rechecks = rechecks

    def compose(self) -> ComposeResult:
        saves = "ctrl+s saves and re-checks" if self.rechecks else "ctrl+s saves"
        yield Label(f"Editing — {saves}, F2 next file, escape goes back", id="editor-title")
        with TabbedContent():
            for index, path in enumerate(self.files):
                with TabPane(path.name, id=f"file-{index}"):
                    text = path.read_text(encoding="utf-8") if path.exists() else ""
                    yield TextArea.code_editor(text, language="python" if path.suffix == ".py" else None, id=f"editor-{index}")
        yield Footer()

    def on_mount(self) -> None:
        if self.files:
            self.query_one("#editor-0", TextArea).focus()

    def action_next_file(self) -> None:
        tabs = self.query_one(TabbedContent)
        panes = [f"file-{index}" for index in range(len(self.files))]
        if not panes:
            return
        following = panes[(panes.index(tabs.active) + 1) % len(panes)] if tabs.active in panes else panes[0]
        tabs.active = following
        self.query_one(f"#editor-{following.removeprefix('file-')}", TextArea).focus()

    def action_save(self) -> None:
        written = []
        for index, path in enumerate(self.files):
            area = self.query_one(f"#editor-{index}", TextArea)
            if not path.exists() or path.read_text(encoding="utf-8") != area.text:
                path.write_text(area.text, encoding="utf-8")
                written.append(path)
        self.notify("Saved.", timeout=2)
        self.post_message(self.Saved(written, self.rechecks))

    def action_close(self) -> None:
        self.dismiss(None)
