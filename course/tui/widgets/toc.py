"""The table of contents: the module's sections with their status."""

from __future__ import annotations

from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from course.render import SECTION_ICONS


def entry(index: int, title: str, status: str, current: bool) -> str:
    """``▶✓  3 Engine and session``: one row of the table of contents."""
    short = title if len(title) <= 24 else title[:23] + "…"
    return f"{'▶' if current else ' '}{SECTION_ICONS.get(status, ' ')} {index + 1:>2} {short}"


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
            self.add_option(Option(entry(index, title, status, index == current), id=f"s{index}"))
        self.highlighted = current

    def mark(self, index: int, title: str, status: str, current: bool) -> None:
        """Redraw one section's row (its status changed), leaving the others and the highlight."""
        self.replace_option_prompt_at_index(index, entry(index, title, status, current))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(self.SectionChosen(event.option_index))
