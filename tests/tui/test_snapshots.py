"""What the app looks like: one SVG snapshot per screen and state (pytest-textual-snapshot).

Nothing here needs Postgres, so every snapshot is deterministic:

- the app's ``open_session`` never returns a server: it waits until the app quits (the app cancels
  its workers on unmount), so the status bar always reads "starting Postgres…";
- check results are a real run recorded once (``tests/fixtures/05-relationships-lazy-loop.json``:
  ``course check 05 --json`` with the solution's models.py and the lazy-loop mutant's queries.py),
  handed to the app as the ``CheckFinished`` message a check worker posts;
- no grading worker is started (``checker.process.launch.default_launcher(warm=False)``);
- the workspace is ``ws`` relative to a fresh temporary working directory, so the paths the
  exercise tab shows are the same on every machine.

After an intended change to the UI: ``pytest tests/tui/test_snapshots.py --snapshot-update``, then
look at the SVGs under ``tests/tui/__snapshots__/test_snapshots/`` before committing them.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

pytest.importorskip("pytest_textual_snapshot")

from textual.widgets import TextArea  # noqa: E402
from textual.worker import get_current_worker  # noqa: E402

from checker.process import launch
from checker.results import ExerciseResult  # noqa: E402
from course.content.model import load_modules  # noqa: E402
from course.learner.hints import request_solution  # noqa: E402
from course.learner.workspace import Workspace  # noqa: E402
from course.postgres.base import BackendError  # noqa: E402
from course.tui.app import CourseApp  # noqa: E402
from course.tui.messages import CheckFinished  # noqa: E402

LAZY_LOOP_RUN = Path(__file__).parents[1] / "fixtures" / "05-relationships-lazy-loop.json"

SMALL = (80, 24)
LARGE = (120, 36)


def postgres_never_ready():
    """Stands in for starting Postgres: blocks until the app quits.

    It must return before ``App.run`` does (asyncio waits for the worker's thread), so it waits on
    the worker's own cancellation, which the app triggers on unmount; the timeout only guards
    against a hang if that ever changes.
    """
    get_current_worker().cancelled_event.wait(timeout=120)
    raise BackendError("the app quit before Postgres started")


@pytest.fixture
def app(tmp_path, monkeypatch):
    """The app on a fresh workspace ``./ws``, at section 1."""
    monkeypatch.chdir(tmp_path)
    # no check runs here: skip the warm grading worker the app starts on mount (a process per app)
    monkeypatch.setattr(launch, "default_launcher", functools.partial(launch.default_launcher, warm=False))
    module = load_modules()[0]
    workspace = Workspace(Path("ws"))
    workspace.init([module])
    yield CourseApp(module, workspace, postgres_never_ready)
    workspace.close()


async def settle(pilot) -> None:
    """Let the lesson Markdown and any tab switch finish rendering."""
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


def at_section(section_id: str, then=None):
    """A ``run_before``: go to the section with n, as a learner would, then run ``then(pilot)``."""

    async def run_before(pilot) -> None:
        app = pilot.app
        await settle(pilot)
        for _ in app.module.sections:
            if app.section.id == section_id:
                break
            await pilot.press("n")
        assert app.section.id == section_id
        await settle(pilot)
        if then is not None:
            await then(pilot)

    return run_before


async def finish_failing_check(pilot) -> None:
    """Deliver the recorded lazy-loop run as if a check had just finished."""
    app = pilot.app
    result = ExerciseResult.from_json(json.loads(LAZY_LOOP_RUN.read_text(encoding="utf-8")))
    app.post_message(CheckFinished(result.exercise, result))
    await settle(pilot)
    app.clear_notifications()  # the "n check(s) to fix" toast times out: keep it out of the picture
    await settle(pilot)


# -- the main screen ----------------------------------------------------------------------------


def test_lesson_tab_80x24(app, snap_compare):
    assert snap_compare(app, terminal_size=SMALL, run_before=settle)


def test_lesson_tab_120x36(app, snap_compare):
    assert snap_compare(app, terminal_size=LARGE, run_before=settle)


def test_lesson_tab_light_theme(app, snap_compare):
    async def light(pilot):
        pilot.app.theme = "textual-light"
        await settle(pilot)

    assert snap_compare(app, terminal_size=SMALL, run_before=light)


def test_exercise_tab(app, snap_compare):
    assert snap_compare(app, press=["2"], terminal_size=SMALL, run_before=at_section("05-relationships"))


def test_results_tab_after_a_failing_check(app, snap_compare):
    assert snap_compare(app, terminal_size=SMALL, run_before=at_section("05-relationships", finish_failing_check))


def test_sql_tab_shows_the_n_plus_one(app, snap_compare):
    async def n_plus_one(pilot):
        await finish_failing_check(pilot)
        await pilot.press("4")
        await settle(pilot)

    # the larger terminal fits the whole failing check: its title, the 3- and the 30-user lazy loads
    assert snap_compare(app, terminal_size=LARGE, run_before=at_section("05-relationships", n_plus_one))


# -- the other screens --------------------------------------------------------------------------


def test_help_screen(app, snap_compare):
    assert snap_compare(app, press=["question_mark"], terminal_size=SMALL, run_before=settle)


def test_quiz_screen_choice_question(app, snap_compare, monkeypatch):
    monkeypatch.setenv("COURSE_QUIZ_SEED", "1")  # choices are shuffled per showing; fix the order
    assert snap_compare(app, press=["q"], terminal_size=SMALL, run_before=settle)


def test_editor_screen(app, snap_compare):
    async def edit(pilot):
        await pilot.press("e")
        await settle(pilot)
        pilot.app.screen.query_one(TextArea).cursor_blink = False  # a blinking cursor is not deterministic
        await settle(pilot)

    assert snap_compare(app, terminal_size=SMALL, run_before=at_section("02-models", edit))


def test_solution_screen(app, snap_compare):
    exercise = next(e for e in app.module.exercises if e.id == "02-models")
    assert request_solution(app.workspace, exercise) is None  # the first ask is refused; the next one shows it
    assert snap_compare(app, press=["s"], terminal_size=SMALL, run_before=at_section("02-models"))


def test_reset_confirmation(app, snap_compare):
    assert snap_compare(app, press=["r"], terminal_size=SMALL, run_before=at_section("02-models"))


def test_hints_stay_on_the_exercise_tab(app, snap_compare):
    async def three_hints(pilot):
        for _ in range(3):
            await pilot.press("h")
            await settle(pilot)

    # the last hint's code, Mapped[str] included, is shown as written
    assert snap_compare(app, terminal_size=(100, 30), run_before=at_section("02-models", three_hints))


def test_results_tab_shows_a_syntax_error_once(app, snap_compare):
    async def syntax_error(pilot):
        from checker.results import CheckResult

        message = "cannot import models.py:\nmodels.py:1: SyntaxError: invalid syntax\n    class Base(:\n               ^"
        checks = [CheckResult(f"check-{n}", "error", message, title=f"check {n}") for n in range(8)]
        result = ExerciseResult("sqlalchemy-2/02-models", "error", 0.05, checks)
        pilot.app.post_message(CheckFinished(result.exercise, result))
        await settle(pilot)
        pilot.app.clear_notifications()
        await settle(pilot)

    assert snap_compare(app, terminal_size=SMALL, run_before=at_section("02-models", syntax_error))


def test_help_over_the_quiz_lists_the_quiz_keys(app, snap_compare):
    assert snap_compare(app, press=["q", "question_mark"], terminal_size=SMALL, run_before=settle)
