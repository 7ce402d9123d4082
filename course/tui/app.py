"""``course start``: read the lesson, edit, check, see the SQL, move on.

The app wires widgets together; blocking work (starting Postgres, grading, watching files) runs
in named thread workers that report back by message (``course.tui.messages``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from rich.markup import escape
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Header, MarkdownViewer, Static, TabbedContent, TabPane
from textual.worker import Worker, WorkerState, get_current_worker

from course.content.model import Exercise, Module, Section
from course.learner.status import exercise_status
from course.learner.workspace import Workspace, WorkspaceError, grader_fingerprint
from course.render import common_error, things_to_fix
from course.tui.messages import CheckFailedToRun, CheckFinished, FilesChanged, ServerFailed, ServerReady
from course.tui.widgets.exercise import ExercisePanel
from course.tui.widgets.results import ResultsView
from course.tui.widgets.sqlview import SqlView
from course.tui.widgets.toc import SectionList

DEBOUNCE_MS = 400


def recorded_result(workspace: Workspace, exercise: Exercise):
    """The last result the progress store holds for ``exercise`` and a line saying when, or
    ``(None, "")``; a result of an older grader says it needs a re-check."""
    import time

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


class CourseApp(App):
    """The course runner's front door."""

    CSS_PATH = "app.tcss"
    TITLE = "course"
    AUTO_FOCUS = "#lesson-view Markdown"  # the page keys scroll the lesson from the start
    BINDINGS = [
        Binding("n", "move(1)", "Next"),
        Binding("p", "move(-1)", "Prev"),
        Binding("c", "check", "Check"),
        Binding("h", "hint", "Hint"),
        Binding("e", "edit", "Edit"),
        Binding("q", "quiz", "Quiz"),
        Binding("question_mark", "help", "Help"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
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

    def __init__(self, module: Module, workspace: Workspace, open_session: Callable[[], object]):
        super().__init__()
        self.module = module
        self.workspace = workspace
        self.open_session = open_session
        self.session = None
        self.launcher = None
        self.grading = None  # the session and the launcher, once Postgres is up
        self.server_status = "starting…"
        self.server_failure = ""
        self.checking: str | None = None
        self.pending_check = False
        self.last_result = None
        self._stop_watching = threading.Event()
        self._closing = False
        position = workspace.progress.get(f"section:{module.id}")
        ids = [s.id for s in module.sections]
        self.index = ids.index(position) if position in ids else 0

    # -- layout ------------------------------------------------------------------------------

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
        self.title = f"{self.module.subtitle} — {self.module.title}"
        self.show_section()
        self.focus_tab()
        # Postgres and the warm worker start once the first screen is out: on two cores their
        # imports and start-up would otherwise delay it
        self.call_after_refresh(self.start_background)
        for problem in self.module.problems:  # an instructor's mistake: say so, keep the rest working
            self.notify(str(problem), title="A broken exercise was skipped", severity="warning", timeout=15, markup=False)

    def _ui_alive(self) -> bool:
        """False while the app shuts down: messages from workers may still arrive then."""
        return not self._closing and bool(self.query("#status"))

    def start_background(self) -> None:
        from checker.process.launch import default_launcher

        if self._closing:
            return
        self.launcher = default_launcher()  # warm imports while the student reads
        self.start_postgres()
        self.watch_files()

    # -- state helpers -----------------------------------------------------------------------

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

    def refresh_status_bar(self) -> None:
        done = sum(1 for e in self.module.exercises if exercise_status(self.workspace, e) == "pass")
        running = f" · checking {self.checking}…" if self.checking else ""
        self.query_one("#status", Static).update(
            f"{done}/{len(self.module.exercises)} exercises passed · Postgres: {self.server_status}{running}"
            f" · workspace {self.workspace.root.name}/ · ? for help"
        )

    def show_section(self) -> None:
        section = self.section
        self.workspace.progress.set(f"section:{self.module.id}", section.id)
        if section.exercises:
            self.workspace.progress.set("position", section.exercises[0].full_id)
        self.query_one(SectionList).show([(s.title, self.section_status(s)) for s in self.module.sections], self.index)
        lesson = section.lesson.read_text(encoding="utf-8") if section.lesson.exists() else f"# {section.title}\n\n(no lesson text yet)"
        self.query_one("#lesson-view", MarkdownViewer).document.update(lesson)
        self.query_one("#lesson-view", MarkdownViewer).scroll_home(animate=False)
        self.show_exercise()
        self.show_last_result()
        self.refresh_status_bar()

    def show_last_result(self) -> None:
        """This run's last result for the exercise, else the one recorded by an earlier run."""
        results = self.query_one(ResultsView)
        sql = self.query_one(SqlView)
        exercise = self.exercise
        note = ""
        result = self.last_result if exercise and self.last_result and self.last_result.exercise == exercise.full_id else None
        if result is None and exercise is not None:
            result, note = recorded_result(self.workspace, exercise)
        failure = f"Postgres could not be started: {self.server_failure}" if self.server_failure else ""
        if result is None:
            results.show_message(f"[red]{escape(failure)}[/]" if failure else "No check run yet for this section. Press c to check.")
            sql.show_message("The SQL your code sends during a check appears here.")
            return
        results.show_result(result, "\n".join(filter(None, (failure, note))))
        sql.show_result(result)

    def show_exercise(self):
        """Show the current exercise; the result can be awaited until its hints are laid out."""
        exercise = self.exercise
        from course.learner.hints import hints_seen

        return self.query_one(ExercisePanel).show(
            self.section, exercise,
            self.workspace.folder(exercise) if exercise else None,
            exercise_status(self.workspace, exercise) if exercise else "",
            hints_seen(self.workspace, exercise) if exercise else [],
        )

    def quiz_only_section(self) -> bool:
        """True (and said) when this section has no code exercise for an exercise key to act on."""
        if self.exercise is None:
            self.notify("This section has a quiz, not a code exercise: press q.")
            return True
        return False

    MAIN_SCREEN_ACTIONS = {
        "move", "check", "hint", "edit", "quiz", "solution", "reset", "cancel_check", "open_editor", "advance", "tab",
    }

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Course keys work on the main screen only (not over the editor or a quiz)."""
        if action in self.MAIN_SCREEN_ACTIONS and len(self.screen_stack) > 1:
            return False
        return True

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
        pane = {"lesson": "#lesson-view Markdown", "exercise": ExercisePanel, "results": ResultsView, "sql": SqlView}
        self.query_one(pane[self.query_one(TabbedContent).active]).focus()

    @on(SectionList.SectionChosen)
    def section_chosen(self, event: SectionList.SectionChosen) -> None:
        self.index = event.index
        self.show_section()

    # -- Postgres ----------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="postgres", exit_on_error=False, name="start-postgres")
    def start_postgres(self) -> None:
        from course.postgres.base import BackendError

        try:
            session = self.open_session()
        except BackendError as error:
            self.post_message(ServerFailed(str(error)))
            return
        except OSError as error:  # unforeseen by the preflight: still one line, never "starting…" forever
            from course.errors import postgres_environment_error

            self.post_message(ServerFailed(postgres_environment_error(error)))
            return
        if self._closing:
            session.close()
            return
        from course.grading.session import GradingSession

        self.grading = GradingSession(session, self.launcher, paired=False)
        self.session = session
        self.post_message(ServerReady(f"{session.server.backend} {session.server_version()}"))
        self.grading.pair()  # the next check's child is prepared ahead (waits for the worker)

    def on_server_ready(self, message: ServerReady) -> None:
        self.server_status = f"ready ({message.description})"
        if not self._ui_alive():
            return
        self.refresh_status_bar()
        if self.pending_check:
            self.pending_check = False
            self.action_check()

    def on_server_failed(self, message: ServerFailed) -> None:
        self.server_status = "failed"
        self.server_failure = message.reason
        if not self._ui_alive():
            return
        self.refresh_status_bar()
        self.show_last_result()
        self.notify(message.reason, title="Postgres failed", severity="error", timeout=15, markup=False)

    # -- checking ----------------------------------------------------------------------------

    def action_check(self) -> None:
        exercise = self.exercise
        if self.quiz_only_section():
            return
        if self.checking:
            return  # saves during a check are ignored; the result will be fresh enough
        if self.session is None:
            if self.server_status == "failed":
                self.notify("Postgres is not available; see the Results tab.", severity="error")
            else:
                self.pending_check = True
                self.notify("Postgres is still starting; the check runs as soon as it is ready.")
            return
        self.checking = exercise.full_id
        self.query_one(ResultsView).show_message(f"Checking {exercise.full_id}… (x cancels)")
        self.refresh_status_bar()
        self.run_check(exercise)

    @work(thread=True, exclusive=True, group="check", exit_on_error=False, name="check")
    def run_check(self, exercise: Exercise) -> None:
        from course.grading.session import job_for
        from course.learner.workspace import missing_files_result

        worker = get_current_worker()
        try:
            if missing := self.workspace.missing_files(exercise):  # reported, never silently restored
                result = missing_files_result(exercise, missing)
            else:
                result = self.grading.grade(job_for(exercise, self.workspace.folder(exercise)),
                                            cancelled=lambda: worker.is_cancelled)
        except Exception as error:  # Postgres died under us, disk full...: say so, keep running
            self.post_message(CheckFailedToRun(exercise.full_id, f"{type(error).__name__}: {error}"))
            return
        if not worker.is_cancelled:
            self.post_message(CheckFinished(exercise.full_id, result))

    def on_check_finished(self, message: CheckFinished) -> None:
        self.checking = None
        result = message.result
        exercise = next(e for e in self.module.exercises if e.full_id == message.exercise_id)
        self.workspace.record(exercise, result)
        self.last_result = result
        if not self._ui_alive():  # quitting: the result is saved, the screen is gone
            return
        self.show_section()
        self.action_tab("results")
        self.query_one(ResultsView).focus()  # so that enter means "move on", not "pick a section"
        if result.status == "pass":
            self.notify("All checks pass! Press enter to move on (or stay and explore).", title="Passed", timeout=8)
        elif common_error(result) is not None:
            self.notify("Your code could not run: one thing to fix — see Results.", severity="warning", timeout=5)
        else:
            failing = things_to_fix(result)
            self.notify(f"{failing} check(s) to fix — see Results and SQL.", severity="warning", timeout=5)

    def on_check_failed_to_run(self, message: CheckFailedToRun) -> None:
        self.checking = None
        if not self._ui_alive():
            return
        self.query_one(ResultsView).show_message(f"[red]The check could not run:[/] {escape(message.reason)}")
        self.refresh_status_bar()

    def action_cancel_check(self) -> None:
        if self.checking:
            self.workers.cancel_group(self, "check")
            self.checking = None
            self.query_one(ResultsView).show_message("Check cancelled.")
            self.refresh_status_bar()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Any worker error becomes a readable message, never a crash."""
        if event.state == WorkerState.ERROR:
            if event.worker.group == "check":
                self.checking = None
            if event.worker.group == "postgres":  # the status bar must not say "starting…" forever
                self.post_message(ServerFailed(f"{type(event.worker.error).__name__}: {event.worker.error}"))
            self.notify(f"{event.worker.name}: {event.worker.error}", title="Something went wrong", severity="error",
                        timeout=15, markup=False)
            self.refresh_status_bar()

    # -- saves -------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="watch", exit_on_error=False, name="watch-files")
    def watch_files(self) -> None:
        """Watch the workspace; a save in the current exercise folder triggers a check."""
        from watchfiles import watch

        root = self.workspace.root
        for changes in watch(root, debounce=DEBOUNCE_MS, stop_event=self._stop_watching, recursive=True,
                             watch_filter=lambda _change, path: path.endswith((".py", ".ini", ".mako"))):
            exercise = self.exercise
            if exercise is None:
                continue
            folder = str(self.workspace.folder(exercise))
            if any(path.startswith(folder) for _change, path in changes):
                self.post_message(FilesChanged(exercise.full_id))

    def on_files_changed(self, message: FilesChanged) -> None:
        if self.exercise and message.exercise_id == self.exercise.full_id:
            self.action_check()

    def on_editor_screen_saved(self, message) -> None:
        """The in-app editor saved: the watcher sees it too, but don't rely on the OS for it."""
        if self.exercise:
            self.post_message(FilesChanged(self.exercise.full_id))

    # -- hints, solution, reset, editing -------------------------------------------------------

    async def action_hint(self) -> None:
        from course.learner.hints import reveal_hint

        if self.quiz_only_section():
            return
        reveal_hint(self.workspace, self.exercise)  # recorded; the panel shows every hint seen
        self.action_tab("exercise")
        await self.show_exercise()
        panel = self.query_one(ExercisePanel)
        self.call_after_refresh(panel.scroll_end, animate=False)  # the newest hint is the last thing

    def action_solution(self) -> None:
        from course.learner.hints import request_solution
        from course.tui.screens.solution import SolutionScreen

        if self.quiz_only_section():
            return
        files = request_solution(self.workspace, self.exercise)
        if files is None:
            self.notify("Try a hint first (h). Ask once more (s) to see the solution anyway.", timeout=8)
            return
        self.push_screen(SolutionScreen(self.exercise.title, files))

    def action_reset(self) -> None:
        from course.tui.screens.confirm import ConfirmScreen

        exercise = self.exercise
        if self.quiz_only_section():
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

        self.push_screen(ConfirmScreen(f"Reset {exercise.id} to its starter files? A backup is kept."), done)

    def action_edit(self) -> None:
        from course.tui.screens.editor import EditorScreen

        if self.quiz_only_section():
            return
        folder = self.workspace.folder(self.exercise)
        files = [folder / name for name in self.exercise.edit if (folder / name).is_file()]
        if not files:
            self.notify(f"This exercise's files are in folders: open {folder} in your editor.", markup=False)
            return
        self.push_screen(EditorScreen(files))

    def action_open_editor(self) -> None:
        """The exercise's main file in $VISUAL / $EDITOR; without one (or when it cannot run
        here), the built-in editor."""
        from textual.app import SuspendNotSupported

        from course.learner.editing import EditorFailed, editor_command, main_file, require_editor, run_editor

        if self.quiz_only_section():
            return
        command = editor_command()
        if command is None:
            self.notify("No $VISUAL or $EDITOR set: editing here (export EDITOR=nano to use your own).", markup=False)
            self.action_edit()
            return
        path = main_file(self.workspace.folder(self.exercise), self.exercise)
        before = path.stat().st_mtime_ns if path.is_file() else None
        try:
            require_editor(command)
            with self.suspend():
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
            self.post_message(FilesChanged(self.exercise.full_id))

    # -- quiz and help -------------------------------------------------------------------------

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
        self.push_screen(QuizScreen(session, questions, self.module.sections[-1].id))

    def action_help(self) -> None:
        """The keys of the screen on top (the quiz has its own), then focus back where it was."""
        from course.tui.screens.help import MAIN_KEYS, HelpScreen

        if isinstance(self.screen, HelpScreen):
            return
        underneath = self.screen
        focused = underneath.focused
        keys = getattr(underneath, "KEYS", None) or MAIN_KEYS
        title = "Quiz keys" if keys is not MAIN_KEYS else "Keys"

        def restore(_closed) -> None:
            if focused is not None and focused.is_attached:
                focused.focus()

        self.push_screen(HelpScreen(keys, title), restore)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Check exercise", "Grade the current exercise now", self.action_check)
        yield SystemCommand("Next section", "Go to the next section", lambda: self.action_move(1))
        yield SystemCommand("Previous section", "Go to the previous section", lambda: self.action_move(-1))
        yield SystemCommand("Hint", "Reveal the next hint", self.action_hint)
        yield SystemCommand("Solution", "Show the reference solution", self.action_solution)
        yield SystemCommand("Reset exercise", "Restore the starter files (keeps a backup)", self.action_reset)
        yield SystemCommand("Edit exercise", "Edit the exercise files in the app", self.action_edit)
        yield SystemCommand("Open in $EDITOR", "Suspend and open your editor", self.action_open_editor)
        yield SystemCommand("Section quiz", "Take this section's quiz", self.action_quiz)
        yield SystemCommand("Cancel check", "Stop the running check", self.action_cancel_check)
        yield SystemCommand("Keys", "Show every key", self.action_help)

    # -- shutdown ------------------------------------------------------------------------------

    def on_unmount(self) -> None:
        self._closing = True
        self._stop_watching.set()
        self.workers.cancel_all()
        if self.grading is not None:
            self.grading.close()  # the launcher's children, then the session
        else:
            if self.launcher is not None:
                self.launcher.close()
            if self.session is not None:
                self.session.close()
        self.session = None

