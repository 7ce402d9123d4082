"""The exercise panel: the task, the files to edit, the status, and the hints revealed so far."""

from __future__ import annotations

from pathlib import Path

from textual.await_complete import AwaitComplete
from textual.containers import VerticalScroll
from textual.widgets import Markdown

from checker.results import Status
from course.content.model import Exercise, Section

STATUS_TEXT = {
    Status.PASS: f"{Status.PASS.glyph} {Status.PASS.word}",
    Status.FAIL: f"{Status.FAIL.glyph} {Status.FAIL.word}",
    Status.ERROR: f"{Status.ERROR.glyph} {Status.ERROR.word} (your code could not run)",
    "not started": "not checked yet",
    "re-check": "the grader changed: check again",
}


class ExercisePanel(VerticalScroll):
    """What to do in this section."""

    def compose(self):
        yield Markdown(id="exercise-text")
        yield Markdown(id="exercise-hints")

    def show(
        self, section: Section, exercise: Exercise | None, folder: Path | None, status: str, hints: list[str]
    ) -> AwaitComplete:
        """Show the exercise; awaiting the result waits until the hints are laid out."""
        if exercise is None:
            text = (
                f"## {section.title}\n\nThis section has no code exercise: it ends with a recall quiz.\n\n"
                "Press **q** to take the quiz — answer from memory; retrieval is what makes it stick."
            )
        else:
            assert folder is not None, "an exercise is shown with its folder"
            files = "\n".join(f"- `{folder / name}`" for name in exercise.edit)
            text = (
                f"## Exercise {exercise.id}: {exercise.title}\n\n**Status:** {STATUS_TEXT.get(status, status)}\n\n"
                f"{exercise.task}\n\n### Your files\n{files}\n\n"
                "Edit them in your own editor (every save re-checks) or press **e** to edit here. "
                "**c** checks now, **h** reveals a hint, **s** shows the solution (after a pass, or when asked twice).\n"
            )
        described = self.query_one("#exercise-text", Markdown).update(text)
        revealed = self.query_one("#exercise-hints", Markdown)
        revealed.display = bool(exercise and hints)
        # a panel that stays: the hints so far, in order, their code shown as code
        numbered = "\n".join(f"{n}. {hint}" for n, hint in enumerate(hints, 1))
        more = "press **h** for the next" if exercise and len(hints) < len(exercise.hints) else "that is every hint"
        listed = revealed.update(
            f"### Hints ({len(hints)}/{len(exercise.hints)}: {more})\n{numbered}\n" if exercise and hints else ""
        )
        return AwaitComplete(described, listed)
