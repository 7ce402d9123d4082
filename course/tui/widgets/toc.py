"""The table of contents: the module's sections with their status."""

from __future__ import annotations

from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

ICONS = {"done": "[green]✓[/]", "failing": "[red]✗[/]", "not started": "[dim]·[/]", "quiz": "[b]?[/]"}


class SectionList(OptionList):
    """Sections 1–14; selecting one opens it."""

    class SectionChosen(Message):
        def __init__(self, index: int):
            super().__init__()
            self.index = index

    def show(self, sections: list[tuple[str, str]], current: int) -> None:
        """``sections`` is ``[(title, status)]``; ``current`` is highlighted and marked."""
        self.clear_options()
        for index, (title, status) in enumerate(sections):
            marker = "▶" if index == current else " "
            short = title if len(title) <= 24 else title[:23] + "…"
            self.add_option(Option(f"{marker}{ICONS.get(status, ' ')} {index + 1:>2} {short}", id=f"s{index}"))
        self.highlighted = current

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(self.SectionChosen(event.option_index))
