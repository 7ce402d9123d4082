"""``course start``: read the lesson, edit, check, see the SQL, move on.

The app wires: the learner's session (``course.learner.session``, no UI: where the learner is,
the results, when to check) is rendered by the main screen (``course.tui.screens.main``), which
owns the panels and their keys and asks for a check, a cancel or a save by message; the app owns
what runs behind them — Postgres, the grading session, the file watcher — in named thread
workers that report back by message (``course.tui.messages``). The app imports its screens,
never the other way round.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape
from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker, WorkerState, get_current_worker

from checker.results import ExerciseResult
from course.content.model import Exercise, Module, Section
from course.learner.session import CODE_CHANGED, CodeStamp, LearnerSession
from course.learner.workspace import Workspace
from course.tui.messages import (
    CancelCheckRequested,
    CheckFailedToRun,
    CheckFinished,
    CheckRequested,
    ExerciseSaved,
    FilesChanged,
    ServerFailed,
    ServerReady,
)
from course.tui.screens.editor import EditorScreen
from course.tui.screens.main import MainScreen

if TYPE_CHECKING:
    from checker.process.launch import Launcher
    from course.grading.session import GradingSession
    from course.postgres.session import DatabaseSession


class CourseApp(App):
    """The course runner's front door."""

    CSS_PATH = "app.tcss"
    TITLE = "course"
    AUTO_FOCUS = None  # each screen says what it focuses (the main screen: the lesson); dialogs nothing
    BINDINGS = [
        Binding("question_mark", "help", "Help"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
        # what a terminal user presses to leave (Textual's own answer is a "press ctrl+q" toast);
        # where text can be selected (the editor, the quiz's answer) the focused field copies instead
        Binding("ctrl+c", "quit", "Quit", show=False),
    ]

    def __init__(
        self,
        module: Module,
        workspace: Workspace,
        open_session: Callable[[], DatabaseSession],
        *,
        code: CodeStamp | None = None,
    ):
        """``code``: the grader's own code as loaded (default: the installed ``course`` and ``checker``)."""
        super().__init__()
        self.module = module
        self.workspace = workspace
        self.open_session = open_session
        self.learner = LearnerSession(module, workspace, code=code)
        self.session: DatabaseSession | None = None
        self.launcher: Launcher | None = None
        self.grading: GradingSession | None = None  # the session and the launcher, once Postgres is up
        self.pending_check = False
        self._stop_watching = threading.Event()
        self.watcher_armed = threading.Event()
        """Set once the file watcher sees saves (tests wait for it instead of sleeping)."""
        self._closing = False
        self.main = MainScreen(self.learner)

    def get_default_screen(self) -> Screen:
        return self.main

    def on_mount(self) -> None:
        self.title = f"{self.module.subtitle} — {self.module.title}"
        # Postgres and the warm worker start once the first screen is out: on two cores their
        # imports and start-up would otherwise delay it
        self.call_after_refresh(self.start_background)
        for problem in self.module.problems:  # an instructor's mistake: say so, keep the rest working
            self.notify(str(problem), title="A broken exercise was skipped", severity="warning", timeout=15, markup=False)

    def _ui_alive(self) -> bool:
        """False while the app shuts down: messages from workers may still arrive then."""
        return not self._closing and bool(self.main.query("#status"))

    def start_background(self) -> None:
        from checker.process.launch import default_launcher

        if self._closing:
            return
        self.launcher = default_launcher()  # warm imports while the student reads
        self.start_postgres()
        self.watch_files()

    # -- what the main screen shows (for the workers, and tests) -------------------------------

    @property
    def section(self) -> Section:
        return self.main.section

    @property
    def exercise(self) -> Exercise | None:
        return self.main.exercise

    @property
    def checking(self) -> str | None:
        """The exercise being checked, or None."""
        return self.learner.checking

    @property
    def last_result(self) -> ExerciseResult | None:
        return self.main.last_result

    @property
    def server_status(self) -> str:
        return self.learner.server_status

    @property
    def server_failure(self) -> str:
        return self.learner.server_failure

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
        self.learner.server_status = f"ready ({message.description})"
        if not self._ui_alive():
            return
        self.main.server_changed()
        if self.pending_check:
            self.pending_check = False
            if self.exercise is not None:
                self.check(self.exercise)

    def on_server_failed(self, message: ServerFailed) -> None:
        self.learner.server_status = "failed"
        self.learner.server_failure = message.reason
        if not self._ui_alive():
            return
        self.main.server_changed()
        self.notify(message.reason, title="Postgres failed", severity="error", timeout=15, markup=False)

    # -- checking ----------------------------------------------------------------------------

    def check(self, exercise: Exercise) -> None:
        """Grade ``exercise`` now (unless a check runs: the gate then re-checks after it if the
        files changed meanwhile)."""
        if self.learner.checking:
            return
        if self.learner.code_changed():  # a reinstall under the running app: never the learner's fault
            self.main.check_stopped(f"[yellow]{escape(CODE_CHANGED)}[/]")
            self.notify(CODE_CHANGED, title="Restart the app", severity="error", timeout=30, markup=False)
            return
        if self.session is None:
            if self.server_status == "failed":
                self.notify("Postgres is not available; see the Results tab.", severity="error")
            else:
                self.pending_check = True
                self.notify("Postgres is still starting; the check runs as soon as it is ready.")
            return
        self.learner.check_started(exercise)
        self.main.check_started(exercise)
        self.run_check(exercise)

    def saved(self, exercise: Exercise) -> None:
        """A save in the exercise's folder (any editor): checked if the watch policy says so."""
        if self.learner.saved(exercise):
            self.check(exercise)

    def on_check_requested(self, message: CheckRequested) -> None:
        if (exercise := self.learner.find(message.exercise_id)) is not None:
            self.check(exercise)

    def on_cancel_check_requested(self, _message: CancelCheckRequested) -> None:
        self.cancel_check()

    def on_exercise_saved(self, message: ExerciseSaved) -> None:
        if (exercise := self.learner.find(message.exercise_id)) is not None:
            self.saved(exercise)

    @work(thread=True, exclusive=True, group="check", exit_on_error=False, name="check")
    def run_check(self, exercise: Exercise) -> None:
        from course.grading.session import job_for

        worker = get_current_worker()
        grading = self.grading
        assert grading is not None, "check() starts a run only once Postgres is up"
        try:
            result = self.learner.missing_files_result(exercise) or grading.grade(
                job_for(exercise, self.workspace.folder(exercise)), cancelled=lambda: worker.is_cancelled
            )
        except Exception as error:  # Postgres died under us, disk full...: say so, keep running
            self.post_message(CheckFailedToRun(exercise.full_id, f"{type(error).__name__}: {error}"))
            return
        if not worker.is_cancelled:
            self.post_message(CheckFinished(exercise.full_id, result))

    def on_check_finished(self, message: CheckFinished) -> None:
        exercise = self.learner.find(message.exercise_id)
        if exercise is None:
            return
        if not message.result.passed and self.learner.code_changed():  # not the learner's code: ours changed
            self.learner.check_cancelled()
            if self._ui_alive():
                self.main.check_stopped(f"[yellow]{escape(CODE_CHANGED)}[/]")
                self.notify(CODE_CHANGED, title="Restart the app", severity="error", timeout=30, markup=False)
            return
        outcome = self.learner.check_finished(exercise, message.result)
        if not self._ui_alive():  # quitting: the result is saved, the screen is gone
            return
        self.main.check_finished(exercise, outcome.result, outcome.toast)
        if outcome.again and exercise == self.exercise:  # saved while it ran: check what is there now
            self.check(exercise)

    def on_check_failed_to_run(self, message: CheckFailedToRun) -> None:
        self.learner.check_cancelled()
        if not self._ui_alive():
            return
        self.main.check_stopped(f"[red]The check could not run:[/] {escape(message.reason)}")

    def cancel_check(self) -> None:
        if self.learner.checking:
            self.workers.cancel_group(self, "check")
            self.learner.check_cancelled()
            self.main.check_stopped("Check cancelled.")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Any worker error becomes a readable message, never a crash."""
        if event.state == WorkerState.ERROR:
            if event.worker.group == "check":
                self.learner.check_cancelled()
            if event.worker.group == "postgres":  # the status bar must not say "starting…" forever
                self.post_message(ServerFailed(f"{type(event.worker.error).__name__}: {event.worker.error}"))
            self.notify(
                f"{event.worker.name}: {event.worker.error}",
                title="Something went wrong",
                severity="error",
                timeout=15,
                markup=False,
            )
            if self._ui_alive():
                self.main.refresh_status_bar()

    # -- saves -------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="watch", exit_on_error=False, name="watch-files")
    def watch_files(self) -> None:
        """Watch the workspace; a save in the current exercise's folder is reported."""
        from course.learner.watching import saves

        for paths in saves(self.workspace.root, self._stop_watching, self.watcher_armed):
            exercise = self.exercise
            if exercise is None:
                continue
            folder = self.workspace.folder(exercise).resolve()
            if any(Path(path).resolve().is_relative_to(folder) for path in paths):  # not a sibling sharing a prefix
                self.post_message(FilesChanged(exercise.full_id))

    def on_files_changed(self, message: FilesChanged) -> None:
        if self.exercise and message.exercise_id == self.exercise.full_id:
            self.saved(self.exercise)

    @on(EditorScreen.Saved)
    def editor_saved(self, message: EditorScreen.Saved) -> None:
        """The in-app editor saved, which re-checks (even with nothing changed: the learner asked).
        The watcher sees the written files too, later: the gate knows they were checked."""
        if message.rechecks and self.exercise:
            self.check(self.exercise)

    # -- help, commands ------------------------------------------------------------------------

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
        if not isinstance(screen, MainScreen):  # the course's commands act on the main screen only
            return
        yield SystemCommand("Check exercise", "Grade the current exercise now", screen.action_check)
        yield SystemCommand("Next section", "Go to the next section", lambda: screen.action_move(1))
        yield SystemCommand("Previous section", "Go to the previous section", lambda: screen.action_move(-1))
        yield SystemCommand("Hint", "Reveal the next hint", screen.action_hint)
        yield SystemCommand("Solution", "Show the reference solution", screen.action_solution)
        yield SystemCommand("Reset exercise", "Restore the starter files (keeps a backup)", screen.action_reset)
        yield SystemCommand("Edit exercise", "Edit the exercise files in the app", screen.action_edit)
        yield SystemCommand("Open in $EDITOR", "Suspend and open your editor", screen.action_open_editor)
        yield SystemCommand("Section quiz", "Take this section's quiz", screen.action_quiz)
        yield SystemCommand("Cancel check", "Stop the running check", screen.action_cancel_check)
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
