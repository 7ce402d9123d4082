"""A student's first hour in the real app (Pilot; no Postgres needed): hints shown literally in a
panel that stays, the last recorded result after a restart, one error shown once, `o` opening
the file, help that scrolls and fits the screen it is on."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import re
import sys
import time
from html import unescape
from pathlib import Path

import pytest

from checker.process import launch
from checker.results import CheckResult, ExerciseResult
from course.content.model import load_modules
from course.learner.workspace import Workspace, grader_fingerprint
from course.postgres.base import BackendError
from course.tui.app import CourseApp
from course.tui.messages import CheckFinished
from course.tui.screens.editor import EditorScreen
from course.tui.widgets.results import ResultsView
from course.tui.widgets.sqlview import SqlView

LAZY_LOOP_RUN = Path(__file__).parents[1] / "fixtures" / "05-relationships-lazy-loop.json"


def no_postgres():
    raise BackendError("not needed here")


@pytest.fixture
def module():
    return load_modules()[0]


@pytest.fixture
def workspace(tmp_path, module, monkeypatch):
    monkeypatch.setattr(launch, "default_launcher", functools.partial(launch.default_launcher, warm=False))
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.delenv("EDITOR", raising=False)
    workspace = Workspace(tmp_path / "ws")
    workspace.init([module])
    yield workspace
    workspace.close()


class RecordingApp(CourseApp):
    """The app, keeping every notification it raised (pop-ups expire)."""

    CSS_PATH = Path(sys.modules[CourseApp.__module__].__file__).with_name(CourseApp.CSS_PATH)

    def __init__(self, *args, **options):
        super().__init__(*args, **options)
        self.told: list[str] = []

    def notify(self, message: str, **options) -> None:
        self.told.append(message)
        super().notify(message, **options)


def screen_text(app) -> str:
    """What the terminal shows, as plain text."""
    svg = app.export_screenshot()
    text = unescape(re.sub(r"<[^>]+>", "", svg.split("</style>")[-1]))
    return " ".join(re.sub("[▁▂▃▄▅▆▇█▊▎▏│]", " ", text).split())  # words only: no scroll bars, no wrapping


def results_text(app) -> str:
    return "\n".join(str(widget.render()) for widget in app.query_one(ResultsView).children)


def run(coro):
    return asyncio.run(coro)


async def wait_until(pilot, predicate, timeout: float = 30.0) -> None:
    """Wait for what the app shows, not for a fixed time (a loaded machine takes longer)."""

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.05)


def test_hints_are_shown_literally_in_a_panel_that_stays(module, workspace):
    exercise = next(e for e in module.exercises if e.id == "02-models")
    workspace.progress.set("section:sqlalchemy-2", "02-models")

    async def scenario():
        app = RecordingApp(module, workspace, no_postgres)
        async with app.run_test(size=(100, 30)) as pilot:
            for _ in exercise.hints:
                await pilot.press("h")
            await wait_until(pilot, lambda: "email: Mapped[str] = mapped_column(String(255)" in screen_text(app))
            shown = screen_text(app)
            assert "email: Mapped[str] = mapped_column(String(255)" in shown, shown
            assert not any("Mapped" in told for told in app.told), "code is not shown in a pop-up"
            app.clear_notifications()
            await pilot.pause(13)  # past the old pop-up's 12 s: the hints are still on screen
            assert "email: Mapped[str] = mapped_column(String(255)" in screen_text(app)

    run(scenario())


def test_after_a_restart_the_last_recorded_result_and_its_sql_are_shown(module, workspace):
    data = json.loads(LAZY_LOOP_RUN.read_text(encoding="utf-8"))
    exercise = next(e for e in module.exercises if e.full_id == data["exercise"])
    workspace.progress.record_result(exercise.full_id, data["status"], grader_fingerprint(exercise), data)
    workspace.progress.set("section:sqlalchemy-2", exercise.section)

    async def scenario():
        app = RecordingApp(module, workspace, no_postgres)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause(0.2)
            text = results_text(app)
            assert "No check run yet" not in text
            assert "FAIL" in text and "Last check" in text
            assert app.query("SqlView .flagged"), "the recorded SQL is shown, the lazy loads marked"
            assert "The SQL your code sends" not in "\n".join(str(w.render()) for w in app.query_one(SqlView).children)

    run(scenario())


def test_a_syntax_error_is_shown_once_as_the_one_thing_to_fix(module, workspace):
    exercise = next(e for e in module.exercises if e.id == "02-models")
    workspace.progress.set("section:sqlalchemy-2", "02-models")
    message = "cannot import models.py:\nmodels.py:1: SyntaxError: invalid syntax\n    class Base(:\n               ^"
    checks = [CheckResult(f"check-{n}", "error", message, title=f"Check {n}") for n in range(8)]
    result = ExerciseResult(exercise.full_id, "error", 0.1, checks)

    async def scenario():
        app = RecordingApp(module, workspace, no_postgres)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause(0.2)
            app.post_message(CheckFinished(exercise.full_id, result))
            await pilot.pause(0.3)
            text = results_text(app)
            assert text.count("SyntaxError") == 1, text
            assert "8 check(s)" not in " ".join(app.told)
            assert any("one thing to fix" in told for told in app.told), app.told

    run(scenario())


def test_o_without_an_editor_opens_the_main_file_in_the_built_in_editor(module, workspace):
    workspace.progress.set("section:sqlalchemy-2", "05-relationships")

    async def scenario():
        app = RecordingApp(module, workspace, no_postgres)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("o")
            await wait_until(pilot, lambda: isinstance(app.screen, EditorScreen))
            assert [f.name for f in app.screen.files] == ["models.py", "queries.py"]

    run(scenario())


def test_o_with_an_editor_that_cannot_start_says_so_and_edits_here(module, workspace, monkeypatch):
    workspace.progress.set("section:sqlalchemy-2", "02-models")
    monkeypatch.setenv("EDITOR", "no-such-editor-anywhere --wait")

    async def scenario():
        app = RecordingApp(module, workspace, no_postgres)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("o")
            await wait_until(pilot, lambda: isinstance(app.screen, EditorScreen))
            assert any("no-such-editor-anywhere" in told and "fix:" in told for told in app.told), app.told
            await pilot.press("escape")  # one escape leaves the built-in editor (the text area took the first)
            await wait_until(pilot, lambda: not isinstance(app.screen, EditorScreen))

    run(scenario())


def test_pagedown_scrolls_the_lesson_from_the_start_and_code_is_never_cut(module, workspace):
    from textual.widgets._markdown import MarkdownFence

    async def scenario():
        app = RecordingApp(module, workspace, no_postgres)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_until(pilot, lambda: any(f.size.width for f in app.query(MarkdownFence)))
            fences = list(app.query(MarkdownFence))
            assert any(len(line) > 64 for f in fences for line in f.code.splitlines()), "the lesson has wide code"
            for fence in fences:
                assert fence.max_scroll_x == 0, "part of a code block is out of sight"
                assert fence.query_one("#code-content").size.width <= fence.size.width
            viewer = app.query_one("#lesson-view")
            await pilot.press("pagedown")
            await wait_until(pilot, lambda: viewer.scroll_y > 0)  # pagedown scrolls the lesson
            await pilot.press("3", "1", "pagedown")  # back from another tab: the lesson still scrolls
            await wait_until(pilot, lambda: viewer.scroll_y > 20)

    run(scenario())


def test_help_scrolls_at_100x30_and_focus_comes_back(module, workspace):
    from course.tui.screens.help import HelpScreen

    async def scenario():
        app = RecordingApp(module, workspace, no_postgres)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_until(pilot, lambda: app.focused is not None)
            before = app.focused
            await pilot.press("question_mark")
            await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
            await pilot.press("end")
            await wait_until(pilot, lambda: "quit (stops the Postgres server)" in screen_text(app))  # the end is reached
            await pilot.press("escape")
            await wait_until(pilot, lambda: not isinstance(app.screen, HelpScreen))
            await pilot.pause()
            assert app.focused is before

    run(scenario())


def quiz_app(module, workspace, kind: str):
    """The app with a quiz screen of one question of ``kind`` pushed."""
    from course.content.quizbank import load_quiz_bank
    from course.quiz.session import QuizSession
    from course.tui.screens.quiz import QuizScreen

    bank = load_quiz_bank(module.quiz, {s.id for s in module.sections})
    question = next(q for q in bank.questions if q.kind == kind)
    app = RecordingApp(module, workspace, no_postgres)
    screen = QuizScreen(QuizSession(bank, workspace.progress, module.id), [question], module.sections[-1].id)
    return app, screen, question


def test_help_over_the_quiz_lists_the_quiz_keys_and_gives_focus_back(module, workspace):
    async def scenario():
        app, quiz, _question = quiz_app(module, workspace, "choice")
        async with app.run_test(size=(100, 30)) as pilot:
            await app.push_screen(quiz)
            await wait_until(pilot, lambda: quiz.focused is not None)
            before = quiz.focused
            await pilot.press("question_mark")
            await wait_until(pilot, lambda: "Quiz keys" in screen_text(app))
            shown = screen_text(app)
            assert "Quiz keys" in shown and "again / hard / good / easy" in shown
            assert "next / previous section" not in shown
            await pilot.press("escape")
            await wait_until(pilot, lambda: app.screen is quiz)
            await pilot.pause()
            assert quiz.focused is before and before is not None

    run(scenario())


def test_recall_ratings_have_keys_1_to_4(module, workspace):
    async def scenario():
        app, quiz, question = quiz_app(module, workspace, "recall")
        async with app.run_test(size=(100, 30)) as pilot:
            await app.push_screen(quiz)
            await pilot.pause(0.2)
            await pilot.press(*"my answer 12", "enter")  # digits typed in the box are text, not ratings
            await pilot.pause(0.2)
            assert not quiz.answered
            await pilot.press("4")
            await wait_until(pilot, lambda: quiz.answered)
            reviews = workspace.progress.quiz_reviews(f"{module.id}/{question.id}")
            assert [rating for _correct, rating in reviews] == [4]  # FSRS: again 1, hard 2, good 3, easy 4

    run(scenario())


def test_exercise_keys_on_a_quiz_section_say_what_to_do(module, workspace):
    async def scenario():
        app = RecordingApp(module, workspace, no_postgres)
        async with app.run_test(size=(100, 30)) as pilot:
            assert app.exercise is None  # section 1 is a quiz
            for key in ("c", "h", "s", "r", "e", "o"):
                app.told.clear()
                await pilot.press(key)
                await wait_until(pilot, lambda: any("press q" in told for told in app.told))
                assert app.screen is app.screen_stack[0], key

    run(scenario())


def test_course_edit_without_an_editor_saves_in_the_built_in_one(module, workspace):
    """What `course edit` runs when neither $VISUAL nor $EDITOR is set: type, ctrl+s, escape."""
    from course.tui.editapp import EditApp

    target = workspace.folder(module.exercises[0]) / "models.py"
    before = target.read_text(encoding="utf-8")

    async def scenario():
        app = EditApp([target])
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause(0.2)
            assert "re-checks" not in screen_text(app)
            await pilot.press("ctrl+home", *"# mine", "enter", "ctrl+s", "escape")
            await pilot.pause(0.2)
        return app.return_code

    assert run(scenario()) == 0, "escape did not leave `course edit`"
    assert target.read_text(encoding="utf-8") == "# mine\n" + before


# -- issue 26: one learner session, one result layout --------------------------------------------


def failing_and_passing(exercise):
    failing = ExerciseResult(
        exercise.full_id,
        "fail",
        0.2,
        [CheckResult(f"check-{n}", "fail", f"problem {n}", title=f"Check {n}") for n in range(3)],
    )
    passing = ExerciseResult(
        exercise.full_id, "pass", 0.2, [CheckResult(f"check-{n}", "pass", title=f"Check {n}") for n in range(3)]
    )
    return failing, passing


def active_tab(app) -> str:
    from textual.widgets import TabbedContent

    return app.query_one(TabbedContent).active


def test_a_pass_clears_the_toasts_of_the_failing_check_before_it(module, workspace, monkeypatch):
    from course.tui.screens.main import MainScreen

    monkeypatch.setattr(MainScreen, "RESULT_TOAST_S", 120.0)  # up until taken down, however slow the machine
    exercise = next(e for e in module.exercises if e.id == "02-models")
    workspace.progress.set("section:sqlalchemy-2", "02-models")
    failing, passing = failing_and_passing(exercise)

    async def scenario():
        app = RecordingApp(module, workspace, no_postgres)
        async with app.run_test(size=(100, 30), notifications=True) as pilot:  # toasts shown, as in real use
            await pilot.pause()
            app.post_message(CheckFinished(exercise.full_id, failing))
            await wait_until(pilot, lambda: "check(s)" in screen_text(app))  # the toast (its lines wrap)
            assert "3 check(s) to fix — see Results and SQL." in app.told
            app.post_message(CheckFinished(exercise.full_id, passing))
            await wait_until(pilot, lambda: "All checks pass" in screen_text(app))
            assert not list(app._notifications), "the failing check's pop-up is still up"
            started = time.monotonic()
            await wait_until(pilot, lambda: "check(s)" not in screen_text(app), timeout=30)  # taken off the screen
            assert time.monotonic() - started < 30, "the stale toast stayed"
            shown = screen_text(app)
            assert "Press enter for section 3" in shown, shown  # what follows the pass, on the Results tab
            assert "PASS" in results_text(app)

    run(scenario())


def test_after_a_pass_enter_opens_the_next_section_on_its_lesson(module, workspace):
    exercise = next(e for e in module.exercises if e.id == "02-models")
    workspace.progress.set("section:sqlalchemy-2", "02-models")
    _failing, passing = failing_and_passing(exercise)

    async def scenario():
        app = RecordingApp(module, workspace, no_postgres)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            app.post_message(CheckFinished(exercise.full_id, passing))
            await wait_until(pilot, lambda: active_tab(app) == "results" and "All checks pass" in screen_text(app))
            await pilot.press("enter")
            await wait_until(pilot, lambda: app.section.id == "03-engine-session")
            await pilot.pause()
            assert active_tab(app) == "lesson", "the next section opened on another tab than its lesson"
            assert "3 · Engine" in screen_text(app) or "Engine" in screen_text(app)

    run(scenario())


def test_a_reinstall_under_the_running_app_is_said_and_never_blamed_on_the_learner(module, workspace, tmp_path):
    """The package's files change on disk while the app runs (``pip install`` again): the next
    check says to restart, instead of "exited with code 0 … do not call sys.exit()"."""
    from course.learner.session import CodeStamp

    install = tmp_path / "course-0.2.0.dist-info"
    install.mkdir()
    (install / "RECORD").write_text("course/__init__.py,,\n", encoding="utf-8")
    exercise = next(e for e in module.exercises if e.id == "02-models")
    workspace.progress.set("section:sqlalchemy-2", "02-models")
    crashed = ExerciseResult.crashed(
        exercise.full_id,
        "the process running your code exited with code 0 before the checks could run: "
        "do not call sys.exit() or os._exit() in exercise code",
    )

    async def scenario():
        app = RecordingApp(module, workspace, no_postgres, code=CodeStamp([install]))
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            (install / "RECORD").write_text("course/__init__.py,,\ncourse/new.py,,\n", encoding="utf-8")  # reinstalled
            await pilot.press("c")
            await wait_until(pilot, lambda: any("course itself changed on disk" in told for told in app.told))
            assert "course itself changed on disk" in results_text(app)
            assert "course start" in results_text(app)
            app.post_message(CheckFinished(exercise.full_id, crashed))  # a run already under way when it happened
            await pilot.pause(0.2)
            assert "sys.exit" not in results_text(app), "the learner is blamed for the reinstall"
            assert workspace.progress.latest(exercise.full_id) is None, "a result of a stale grader was recorded"

    run(scenario())


def test_the_sections_signs_are_explained_under_the_list_and_in_help(module, workspace):
    from course.tui.screens.help import HelpScreen

    async def scenario():
        app = RecordingApp(module, workspace, no_postgres)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            shown = screen_text(app)
            for legend in ("▶ you are here", "✓ passed", "✗ failing", "· not started", "? quiz"):
                assert legend in shown, (legend, shown)
            await pilot.press("question_mark")
            await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
            await pilot.press("end")
            await pilot.pause(0.2)
            assert "The sections list" in screen_text(app) and "not started" in screen_text(app)

    run(scenario())


def test_h_after_the_last_hint_says_so_and_what_comes_next(module, workspace):
    exercise = next(e for e in module.exercises if e.id == "02-models")
    workspace.progress.set("section:sqlalchemy-2", "02-models")

    async def scenario():
        app = RecordingApp(module, workspace, no_postgres)
        async with app.run_test(size=(100, 30)) as pilot:
            for _ in exercise.hints:
                await pilot.press("h")
            await pilot.pause()
            assert not any("hints are shown" in told for told in app.told)
            await pilot.press("h")
            await wait_until(pilot, lambda: any("hints are shown" in told for told in app.told))
            assert any("solution" in told for told in app.told if "hints are shown" in told), app.told

    run(scenario())


def test_the_app_and_the_terminal_show_a_result_with_the_same_lines(module, workspace):
    """One layout (course.render.result_layout): the Results tab's lines are the terminal's."""
    from rich.console import Console

    from course.render import print_result

    data = json.loads(LAZY_LOOP_RUN.read_text(encoding="utf-8"))
    result = ExerciseResult.from_json(data)
    result.output = "debug [b]not markup[/b]\n" * 20
    exercise = next(e for e in module.exercises if e.full_id == result.exercise)
    workspace.progress.set("section:sqlalchemy-2", exercise.section)
    console = Console(width=1000, record=True, file=open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115
    print_result(console, result)
    terminal = [" ".join(line.split()) for line in console.export_text().splitlines() if line.strip()]

    async def scenario():
        app = RecordingApp(module, workspace, no_postgres)
        async with app.run_test(size=(200, 60)) as pilot:
            await pilot.pause()
            app.post_message(CheckFinished(exercise.full_id, result))
            await wait_until(pilot, lambda: "FAIL" in results_text(app))
            result_widgets = [w for w in app.query_one(ResultsView).children if not w.has_class("placeholder")]
            return [" ".join(line.split()) for w in result_widgets for line in str(w.render()).splitlines() if line.strip()]

    app_lines = run(scenario())
    assert [line for line in app_lines if line not in terminal] == [], (app_lines, terminal)
    assert app_lines[0] == terminal[0] and "FAIL" in app_lines[0]
    assert "debug [b]not markup[/b]" in app_lines and "debug [b]not markup[/b]" in terminal, "escaped alike"
    assert app_lines.count("debug [b]not markup[/b]") == terminal.count("debug [b]not markup[/b]") == 15
