"""The main screen: the sections on the left, the lesson, exercise, results and SQL tabs, the
status line; its keys move between sections and act on the section's exercise.

The screen renders the learner's session (``course.learner.session``: where the learner is,
the results, the hints) and asks the app for what runs behind it by message (a check, a
cancel, a save): it never imports the app. A section change redraws everything and opens its
lesson; a check result only redraws what it changes (the results and SQL tabs, the exercise's
status marks in the table of contents, the exercise tab and the status line).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, MarkdownViewer, Static, TabbedContent, TabPane

from course.content.model import Exercise, Section
from course.learner.session import LearnerSession
from course.learner.workspace import WorkspaceError
from course.render import section_legend
from course.tui.messages import CancelCheckRequested, CheckRequested, ExerciseSaved
from course.tui.widgets.exercise import ExercisePanel
from course.tui.widgets.results import ResultsView
from course.tui.widgets.sqlview import SqlView
from course.tui.widgets.toc import SectionList

if TYPE_CHECKING:
    from checker.results import ExerciseResult


class MainScreen(Screen):
    """A module's sections, one at a time."""

    AUTO_FOCUS = "#lesson-view Markdown"  # the page keys scroll the lesson from the start
    BINDINGS = [
        Binding("ctrl+q", "app.quit", "Quit", priority=True),  # the app's, listed first in the footer
        Binding("n", "move(1)", "Next"),
        Binding("p", "move(-1)", "Prev"),
        Binding("c", "check", "Check"),
        Binding("h", "hint", "Hint"),
        Binding("e", "edit", "Edit"),
        Binding("q", "quiz", "Quiz"),
        Binding("s", "solution", "Solution", show=False),
        Binding("r", "reset", "Reset", show=False),
        Binding("x", "cancel_check", "Cancel check", show=False),
        Binding("o", "open_editor", "Open", show=False),
        Binding("enter", "advance", "Next after pass", show=False),
        Binding("1", "tab('lesson')", "Lesson", show=False),
        Binding("2", "tab('exercise')", "Exercise", show=False),
        Binding("3", "tab('results')", "Results", show=False),
        Binding("4", "tab('sql')", "SQL", show=False),
    ]

    RESULT_TOAST_S = 5.0
    """How long a failing check's pop-up stays (the next result takes it down at once)."""

    def __init__(self, session: LearnerSession):
        super().__init__()
        self.session = session
        self.module = session.module
        self.workspace = session.workspace
        self.lesson_loads = 0  # how many times a lesson was read and laid out (a check never does it)

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Horizontal(id="main"):
            with Vertical(id="sidebar"):
                yield SectionList(id="toc")
                yield Static(section_legend(per_line=2), id="legend", markup=False)
            with TabbedContent(initial="lesson", id="tabs"):
                with TabPane("Lesson", id="lesson"):
                    yield MarkdownViewer(show_table_of_contents=False, id="lesson-view")
                with TabPane("Exercise", id="exercise"):
                    yield ExercisePanel(id="exercise-panel")
                with TabPane("Results", id="results"):
                    yield ResultsView(id="results-view")
                with TabPane("SQL", id="sql"):
                    yield SqlView(id="sql-view")
        yield Static("", id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.show_section()
        self.focus_tab()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Under a dialog (help, reset, solution), this screen's footer is still seen: it lists
        only the app's keys then, as they are the only ones that work."""
        if self.app.screen is not self and action != "app.quit":
            return False
        return True

    # -- state -------------------------------------------------------------------------------

    @property
    def index(self) -> int:
        return self.session.index

    @property
    def section(self) -> Section:
        return self.session.section

    @property
    def exercise(self) -> Exercise | None:
        return self.session.exercise

    @property
    def last_result(self) -> ExerciseResult | None:
        exercise = self.exercise
        return self.session.results.get(exercise.full_id) if exercise else None

    def code_exercise(self) -> Exercise | None:
        """The section's code exercise for an exercise key to act on; None (and said) in a quiz-only section."""
        if self.exercise is None:
            self.notify("This section has a quiz, not a code exercise: press q.")
        return self.exercise

    # -- what the panels show ----------------------------------------------------------------

    def refresh_status_bar(self) -> None:
        self.query_one("#status", Static).update(escape(self.session.status_line()))

    def show_section(self) -> None:
        """Everything, for the section just opened (or reset)."""
        self.query_one(SectionList).show([(s.title, self.session.section_status(s)) for s in self.module.sections], self.index)
        self.show_lesson()
        self.show_exercise()
        self.show_last_result()
        self.refresh_status_bar()

    def open_section(self, index: int) -> None:
        """Move to section ``index``, on its lesson (a section begins with what it teaches)."""
        if self.session.go_to(index):
            self.show_section()
            self.action_tab("lesson")

    def show_lesson(self) -> None:
        section = self.section
        lesson = (
            section.lesson.read_text(encoding="utf-8")
            if section.lesson.exists()
            else f"# {section.title}\n\n(no lesson text yet)"
        )
        viewer = self.query_one("#lesson-view", MarkdownViewer)
        viewer.document.update(lesson)
        viewer.scroll_home(animate=False)
        self.lesson_loads += 1

    def show_last_result(self) -> None:
        """This run's last result for the exercise, else the one recorded by an earlier run."""
        results = self.query_one(ResultsView)
        sql = self.query_one(SqlView)
        exercise = self.exercise
        result, note = self.session.shown_result(exercise) if exercise else (None, "")
        failure = f"Postgres could not be started: {self.session.server_failure}" if self.session.server_failure else ""
        if result is None:
            results.show_message(
                f"[red]{escape(failure)}[/]" if failure else "No check run yet for this section. Press c to check."
            )
            sql.show_message("The SQL your code sends during a check appears here.")
            return
        results.show_result(result, "\n".join(filter(None, (failure, note))), after_pass=self.session.after_pass())
        sql.show_result(result)

    def show_exercise(self):
        """Show the current exercise; the result can be awaited until its hints are laid out."""
        exercise = self.exercise
        return self.query_one(ExercisePanel).show(
            self.section,
            exercise,
            self.workspace.folder(exercise) if exercise else None,
            self.session.status(exercise) if exercise else "",
            self.session.hints_seen(exercise) if exercise else [],
        )

    def mark_section_of(self, exercise: Exercise) -> None:
        """The table of contents' icon of the exercise's section, after its status changed."""
        index = self.session.section_index_of(exercise)
        if index is not None:
            section = self.module.sections[index]
            self.query_one(SectionList).mark(index, section.title, self.session.section_status(section), index == self.index)

    # -- what the app reports ----------------------------------------------------------------

    def check_started(self, exercise: Exercise) -> None:
        if exercise == self.exercise:
            self.query_one(ResultsView).show_message(f"Checking {exercise.full_id}… (x cancels)")
        self.refresh_status_bar()

    def check_finished(self, exercise: Exercise, result: ExerciseResult, toast: tuple[str, str] | None) -> None:
        """A result (already recorded in the session): the results, the status marks, the status
        line; nothing else. The pop-ups of earlier checks go: they would speak of older code."""
        self.app.clear_notifications()
        self.mark_section_of(exercise)
        self.refresh_status_bar()
        if exercise != self.exercise:  # the learner moved on meanwhile: the marks are enough
            return
        self.show_last_result()
        self.show_exercise()  # its status line; the hints stay
        self.action_tab("results")
        self.query_one(ResultsView).focus()  # so that enter means "move on", not "pick a section"
        if toast is not None:
            text, severity = toast
            self.notify(text, severity=severity, timeout=self.RESULT_TOAST_S)  # type: ignore[arg-type]

    def check_stopped(self, text: str) -> None:
        """The check did not produce a result (``text``: markup saying why)."""
        self.query_one(ResultsView).show_message(text)
        self.refresh_status_bar()

    def server_changed(self) -> None:
        self.refresh_status_bar()
        if self.session.server_failure:
            self.show_last_result()

    # -- navigation --------------------------------------------------------------------------

    def action_move(self, step: int) -> None:
        self.open_section(self.index + step)

    def action_advance(self) -> None:
        """Move on after a pass; the student decides when."""
        if self.session.can_advance():
            self.action_move(1)

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        self.focus_tab()

    def focus_tab(self) -> None:
        """Focus what the active tab shows, so that the page keys scroll it straight away."""
        pane = {
            "lesson": "#lesson-view Markdown",
            "exercise": ExercisePanel.__name__,
            "results": ResultsView.__name__,
            "sql": SqlView.__name__,
        }
        self.query_one(pane[self.query_one(TabbedContent).active]).focus()

    @on(SectionList.SectionChosen)
    def section_chosen(self, event: SectionList.SectionChosen) -> None:
        self.open_section(event.index)

    # -- the exercise's keys -------------------------------------------------------------------

    def action_check(self) -> None:
        if (exercise := self.code_exercise()) is not None:
            self.post_message(CheckRequested(exercise.full_id))

    def action_cancel_check(self) -> None:
        self.post_message(CancelCheckRequested())

    async def action_hint(self) -> None:
        exercise = self.code_exercise()
        if exercise is None:
            return
        hints = self.session.reveal_hint(exercise)  # recorded; the panel shows every hint seen
        if not hints.new:
            self.notify(f"All {hints.total} hints are shown (Exercise tab). Next: s shows the reference solution.")
        self.action_tab("exercise")
        await self.show_exercise()
        panel = self.query_one(ExercisePanel)
        self.call_after_refresh(panel.scroll_end, animate=False)  # the newest hint is the last thing

    def action_solution(self) -> None:
        from course.tui.screens.solution import SolutionScreen

        exercise = self.code_exercise()
        if exercise is None:
            return
        files = self.session.request_solution(exercise)
        if files is None:
            self.notify("Try a hint first (h). Ask once more (s) to see the solution anyway.", timeout=8)
            return
        self.app.push_screen(SolutionScreen(exercise.title, files))

    def action_reset(self) -> None:
        from course.tui.screens.confirm import ConfirmScreen

        exercise = self.code_exercise()
        if exercise is None:
            return

        def done(confirmed: bool | None) -> None:
            if confirmed:
                try:
                    backup = self.workspace.reset(exercise)
                except WorkspaceError as error:
                    self.notify(str(error), title="Reset failed", severity="error", timeout=15, markup=False)
                    return
                self.notify(f"Starter restored. Your previous files: {backup}", timeout=10, markup=False)
                self.show_section()

        self.app.push_screen(ConfirmScreen(f"Reset {exercise.id} to its starter files? A backup is kept."), done)

    def action_edit(self) -> None:
        from course.tui.screens.editor import EditorScreen

        exercise = self.code_exercise()
        if exercise is None:
            return
        folder = self.workspace.folder(exercise)
        files = [folder / name for name in exercise.edit if (folder / name).is_file()]
        if not files:
            self.notify(f"This exercise's files are in folders: open {folder} in your editor.", markup=False)
            return
        self.app.push_screen(EditorScreen(files))

    def action_open_editor(self) -> None:
        """The exercise's main file in $VISUAL / $EDITOR; without one (or when it cannot run
        here), the built-in editor."""
        from textual.app import SuspendNotSupported

        from course.learner.editing import EditorFailed, editor_command, main_file, require_editor, run_editor

        exercise = self.code_exercise()
        if exercise is None:
            return
        command = editor_command()
        if command is None:
            self.notify("No $VISUAL or $EDITOR set: editing here (export EDITOR=nano to use your own).", markup=False)
            self.action_edit()
            return
        path = main_file(self.workspace.folder(exercise), exercise)
        before = path.stat().st_mtime_ns if path.is_file() else None
        try:
            require_editor(command)
            with self.app.suspend():
                run_editor(command, path)
        except SuspendNotSupported:
            self.notify("This terminal cannot hand over to your editor: editing here.", markup=False)
            self.action_edit()
            return
        except EditorFailed as error:
            self.notify(str(error), title="Your editor did not start", severity="error", timeout=15, markup=False)
            self.action_edit()
            return
        if not path.is_file() or path.stat().st_mtime_ns != before:  # saved: check it, as any save does
            self.post_message(ExerciseSaved(exercise.full_id))

    def action_quiz(self) -> None:
        from course.content.model import ContentError
        from course.content.quizbank import load_quiz_bank
        from course.quiz.session import QuizSession
        from course.tui.screens.quiz import QuizScreen

        try:
            bank = load_quiz_bank(self.module.quiz, {s.id for s in self.module.sections})
        except ContentError as error:
            self.notify(str(error), title="The quiz is broken", severity="error")
            return
        questions = bank.for_section(self.section.id)
        if not questions:
            self.notify("This section has no quiz questions.")
            return
        session = QuizSession(bank, self.workspace.progress, self.module.id)
        self.app.push_screen(QuizScreen(session, questions, self.module.sections[-1].id))
