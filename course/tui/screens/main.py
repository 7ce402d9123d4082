"""The main screen: the sections on the left, the lesson, exercise, results and SQL tabs, the
status line; its keys move between sections and act on the section's exercise.

The screen owns the panels and what updates them. A section change redraws everything; a check
result only redraws what it changes (the results and SQL tabs, the exercise's status marks in
the table of contents, the exercise tab and the status line): the lesson is neither re-read nor
scrolled. Grading, Postgres and the file watcher belong to the app (``course.tui.app``), which
hands the screen what they report.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Header, MarkdownViewer, Static, TabbedContent, TabPane

from course.content.model import Exercise, Module, Section
from course.learner.status import exercise_status
from course.learner.workspace import Workspace, WorkspaceError, grader_fingerprint
from course.render import common_error, things_to_fix
from course.tui.widgets.exercise import ExercisePanel
from course.tui.widgets.results import ResultsView
from course.tui.widgets.sqlview import SqlView
from course.tui.widgets.toc import SectionList

if TYPE_CHECKING:
    from checker.results import ExerciseResult
    from course.tui.app import CourseApp


def recorded_result(workspace: Workspace, exercise: Exercise):
    """The last result the progress store holds for ``exercise`` and a line saying when, or
    ``(None, "")``; a result of an older grader says it needs a re-check."""
    from checker.results import ExerciseResult

    recorded = workspace.progress.latest_result(exercise.full_id)
    if recorded is None:
        return None, ""
    data, latest = recorded
    try:
        result = ExerciseResult.from_json(data)
    except (KeyError, TypeError, ValueError):
        return None, ""  # written by another version: not worth a crash, a check makes a new one
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(latest.at))
    note = f"Last check, {when}."
    if latest.grader != grader_fingerprint(exercise):
        note += " The grader changed since: press c to check again."
    return result, note


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

    app: CourseApp

    def __init__(self, module: Module, workspace: Workspace):
        super().__init__()
        self.module = module
        self.workspace = workspace
        self.last_result: ExerciseResult | None = None  # this run's latest, shown over a recorded one
        self.lesson_loads = 0  # how many times a lesson was read and laid out (a check never does it)
        position = workspace.progress.get(f"section:{module.id}")
        ids = [s.id for s in module.sections]
        self.index = ids.index(position) if position in ids else 0

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Horizontal(id="main"):
            yield SectionList(id="toc")
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
    def section(self) -> Section:
        return self.module.sections[self.index]

    @property
    def exercise(self) -> Exercise | None:
        return self.section.exercises[0] if self.section.exercises else None

    def section_status(self, section: Section) -> str:
        if section.quiz_only:
            return "quiz"
        statuses = [exercise_status(self.workspace, e) for e in section.exercises]
        if all(s == "pass" for s in statuses):
            return "done"
        if any(s in ("fail", "error") for s in statuses):
            return "failing"
        return "not started"

    def code_exercise(self) -> Exercise | None:
        """The section's code exercise for an exercise key to act on; None (and said) in a quiz-only section."""
        if self.exercise is None:
            self.notify("This section has a quiz, not a code exercise: press q.")
        return self.exercise

    # -- what the panels show ----------------------------------------------------------------

    def refresh_status_bar(self) -> None:
        done = sum(1 for e in self.module.exercises if exercise_status(self.workspace, e) == "pass")
        checking = self.app.checking
        running = f" · checking {checking}…" if checking else ""
        self.query_one("#status", Static).update(
            f"{done}/{len(self.module.exercises)} exercises passed · Postgres: {self.app.server_status}{running}"
            f" · workspace {self.workspace.root.name}/ · ? for help"
        )

    def show_section(self) -> None:
        """Everything, for the section just opened (or reset)."""
        section = self.section
        self.workspace.progress.set(f"section:{self.module.id}", section.id)
        if section.exercises:
            self.workspace.progress.set("position", section.exercises[0].full_id)
        self.query_one(SectionList).show([(s.title, self.section_status(s)) for s in self.module.sections], self.index)
        self.show_lesson()
        self.show_exercise()
        self.show_last_result()
        self.refresh_status_bar()

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
        note = ""
        last = self.last_result
        result = last if exercise and last and last.exercise == exercise.full_id else None
        if result is None and exercise is not None:
            result, note = recorded_result(self.workspace, exercise)
        failure = f"Postgres could not be started: {self.app.server_failure}" if self.app.server_failure else ""
        if result is None:
            results.show_message(
                f"[red]{escape(failure)}[/]" if failure else "No check run yet for this section. Press c to check."
            )
            sql.show_message("The SQL your code sends during a check appears here.")
            return
        results.show_result(result, "\n".join(filter(None, (failure, note))))
        sql.show_result(result)

    def show_exercise(self):
        """Show the current exercise; the result can be awaited until its hints are laid out."""
        from course.learner.hints import hints_seen

        exercise = self.exercise
        return self.query_one(ExercisePanel).show(
            self.section,
            exercise,
            self.workspace.folder(exercise) if exercise else None,
            exercise_status(self.workspace, exercise) if exercise else "",
            hints_seen(self.workspace, exercise) if exercise else [],
        )

    def mark_section_of(self, exercise: Exercise) -> None:
        """The table of contents' icon of the exercise's section, after its status changed."""
        index = next((n for n, s in enumerate(self.module.sections) if exercise in s.exercises), None)
        if index is not None:
            section = self.module.sections[index]
            self.query_one(SectionList).mark(index, section.title, self.section_status(section), index == self.index)

    # -- what the app reports ----------------------------------------------------------------

    def check_started(self, exercise: Exercise) -> None:
        if exercise == self.exercise:
            self.query_one(ResultsView).show_message(f"Checking {exercise.full_id}… (x cancels)")
        self.refresh_status_bar()

    def check_finished(self, exercise: Exercise, result: ExerciseResult) -> None:
        """A result (already recorded): the results, the status marks, the status line; nothing else."""
        self.last_result = result
        self.mark_section_of(exercise)
        self.refresh_status_bar()
        if exercise != self.exercise:  # the learner moved on meanwhile: the marks are enough
            return
        self.show_last_result()
        self.show_exercise()  # its status line; the hints stay
        self.action_tab("results")
        self.query_one(ResultsView).focus()  # so that enter means "move on", not "pick a section"
        if result.status == "pass":
            self.notify("All checks pass! Press enter to move on (or stay and explore).", title="Passed", timeout=8)
        elif common_error(result) is not None:
            self.notify("Your code could not run: one thing to fix — see Results.", severity="warning", timeout=5)
        else:
            failing = things_to_fix(result)
            self.notify(f"{failing} check(s) to fix — see Results and SQL.", severity="warning", timeout=5)

    def check_stopped(self, text: str) -> None:
        """The check did not produce a result (``text``: markup saying why)."""
        self.query_one(ResultsView).show_message(text)
        self.refresh_status_bar()

    def server_changed(self) -> None:
        self.refresh_status_bar()
        if self.app.server_failure:
            self.show_last_result()

    # -- navigation --------------------------------------------------------------------------

    def action_move(self, step: int) -> None:
        target = self.index + step
        if 0 <= target < len(self.module.sections):
            self.index = target
            self.show_section()

    def action_advance(self) -> None:
        """Move on after a pass; the student decides when."""
        if self.exercise and exercise_status(self.workspace, self.exercise) == "pass":
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
        self.index = event.index
        self.show_section()

    # -- the exercise's keys -------------------------------------------------------------------

    def action_check(self) -> None:
        if (exercise := self.code_exercise()) is not None:
            self.app.check(exercise)

    def action_cancel_check(self) -> None:
        self.app.cancel_check()

    async def action_hint(self) -> None:
        from course.learner.hints import reveal_hint

        exercise = self.code_exercise()
        if exercise is None:
            return
        reveal_hint(self.workspace, exercise)  # recorded; the panel shows every hint seen
        self.action_tab("exercise")
        await self.show_exercise()
        panel = self.query_one(ExercisePanel)
        self.call_after_refresh(panel.scroll_end, animate=False)  # the newest hint is the last thing

    def action_solution(self) -> None:
        from course.learner.hints import request_solution
        from course.tui.screens.solution import SolutionScreen

        exercise = self.code_exercise()
        if exercise is None:
            return
        files = request_solution(self.workspace, exercise)
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
            self.app.saved(exercise)

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
