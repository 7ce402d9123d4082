"""The real Textual app driven with Pilot, grading against the real embedded Postgres."""

from __future__ import annotations

import asyncio
import shutil
import time

from course.postgres.base import BackendError
from course.tui.app import CourseApp
from course.tui.messages import CheckFinished
from course.tui.screens.confirm import ConfirmScreen
from course.tui.screens.quiz import QuizScreen
from course.tui.screens.solution import SolutionScreen
from course.tui.widgets.results import ResultsView
from course.tui.widgets.toc import SectionList

from conftest import SharedSession


def make_app(module, workspace, databases):
    return CourseApp(module, workspace, lambda: SharedSession(databases))


async def wait_for(pilot, predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.1)


def section_index(module, section_id: str) -> int:
    return [s.id for s in module.sections].index(section_id)


def results_text(app) -> str:
    return "\n".join(str(widget.render()) for widget in app.query_one(ResultsView).children)


def run(coro):
    return asyncio.run(coro)


def test_first_start_shows_every_section_and_the_server_becomes_ready(module, workspace, databases):
    async def scenario():
        app = make_app(module, workspace, databases)
        async with app.run_test(size=(80, 24)) as pilot:
            assert app.query_one(SectionList).option_count == 14
            assert app.section.id == "01-what-is-an-orm"
            await wait_for(pilot, lambda: app.session is not None)
            await pilot.pause(0.1)
            assert "ready" in app.server_status

    run(scenario())


def test_navigation_moves_between_sections_and_the_position_persists(module, workspace, databases):
    async def scenario():
        app = make_app(module, workspace, databases)
        async with app.run_test() as pilot:
            await pilot.press("n", "n", "n")
            assert app.section.id == "04-crud"
            await pilot.press("p")
            assert app.section.id == "03-engine-session"
        assert workspace.progress.get("section:sqlalchemy-2") == "03-engine-session"
        again = make_app(module, workspace, databases)
        async with again.run_test():
            assert again.section.id == "03-engine-session"

    run(scenario())


def test_a_failing_then_a_passing_check_and_enter_moves_on(module, workspace, databases):
    messages = []

    async def scenario():
        workspace.progress.set("section:sqlalchemy-2", "03-engine-session")
        app = make_app(module, workspace, databases)
        async with app.run_test(message_hook=messages.append) as pilot:
            await wait_for(pilot, lambda: app.session is not None)
            await pilot.press("c")
            await wait_for(pilot, lambda: any(isinstance(m, CheckFinished) for m in messages) and not app.checking)
            await pilot.pause(0.2)
            first = [m for m in messages if isinstance(m, CheckFinished)][-1].result
            assert first.status == "fail"
            assert "FAIL" in results_text(app)
            assert app.query_one("#tabs").active == "results"
            await pilot.press("enter")  # not passed: enter does not move on
            assert app.section.id == "03-engine-session"
            exercise = app.exercise
            shutil.copy(exercise.solution_dir / "db.py", workspace.folder(exercise) / "db.py")
            count = len([m for m in messages if isinstance(m, CheckFinished)])
            await pilot.press("c")
            await wait_for(pilot, lambda: len([m for m in messages if isinstance(m, CheckFinished)]) > count and not app.checking)
            await pilot.pause(0.2)
            assert [m for m in messages if isinstance(m, CheckFinished)][-1].result.status == "pass"
            assert "All checks pass" in results_text(app)
            await pilot.press("enter")
            assert app.section.id == "04-crud"
        assert workspace.progress.latest("sqlalchemy-2/03-engine-session").status == "pass"

    run(scenario())


def test_the_sql_view_shows_the_n_plus_one(module, workspace, databases):
    async def scenario():
        workspace.progress.set("section:sqlalchemy-2", "05-relationships")
        app = make_app(module, workspace, databases)
        exercise = next(e for e in module.exercises if e.id == "05-relationships")
        folder = workspace.folder(exercise)
        shutil.copy(exercise.solution_dir / "models.py", folder / "models.py")
        shutil.copy(exercise.path / "mutants" / "lazy-loop" / "queries.py", folder / "queries.py")
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.session is not None)
            await pilot.press("c")
            await wait_for(pilot, lambda: app.last_result is not None)
            await pilot.press("4")
            await pilot.pause(0.2)
            flagged = app.query("SqlView .flagged")
            assert flagged, "the lazy loads are marked"
            check = next(c for c in app.last_result.checks if c.name == "no-n-plus-one")
            shown = [v for v in check.statements if v.flagged]
            assert len(flagged) == len(shown)
            assert any(v.count == 30 and "User.documents" in (v.note or "") for v in shown)

    run(scenario())


def test_hint_solution_and_reset(module, workspace, databases):
    async def scenario():
        workspace.progress.set("section:sqlalchemy-2", "02-models")
        app = make_app(module, workspace, databases)
        target = workspace.folder(app.module.exercises[0]) / "models.py"
        async with app.run_test() as pilot:
            await pilot.press("h")
            assert workspace.progress.count("sqlalchemy-2/02-models", "hints") == 1
            await pilot.press("s")
            assert not isinstance(app.screen, SolutionScreen)
            await pilot.press("s")
            assert isinstance(app.screen, SolutionScreen)
            await pilot.press("escape")
            target.write_text("# my broken work\n", encoding="utf-8")
            await pilot.press("r")
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("n")
            assert target.read_text(encoding="utf-8") == "# my broken work\n"
            await pilot.press("r", "y")
            await pilot.pause(0.1)
            assert target.read_text(encoding="utf-8") == (app.exercise.starter_dir / "models.py").read_text(encoding="utf-8")

    run(scenario())


def test_the_section_quiz_uses_the_shared_engine(module, workspace, databases):
    async def scenario():
        app = make_app(module, workspace, databases)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("q")
            await wait_for(pilot, lambda: isinstance(app.screen, QuizScreen), timeout=10)  # its first import is slow
            screen = app.screen
            question = screen.question
            assert question.kind == "choice"
            choices = screen.query_one("#quiz-choices")
            choices.select(question.correct[0])
            for extra in question.correct[1:]:
                choices.select(extra)
            screen.action_answer()
            await pilot.pause(0.1)
            assert screen.answered
            assert workspace.progress.quiz_card(f"sqlalchemy-2/{question.id}") is not None
            await pilot.press("escape")
            assert not isinstance(app.screen, QuizScreen)

    run(scenario())


def test_saving_a_file_triggers_a_check(module, workspace, databases):
    messages = []

    async def scenario():
        workspace.progress.set("section:sqlalchemy-2", "02-models")
        app = make_app(module, workspace, databases)
        async with app.run_test(message_hook=messages.append) as pilot:
            await wait_for(pilot, lambda: app.session is not None)
            await wait_for(pilot, app.watcher_armed.is_set)  # a save before the watcher is armed is not seen
            folder = workspace.folder(app.exercise)
            (folder / "models.py").write_text(
                (app.exercise.solution_dir / "models.py").read_text(encoding="utf-8"), encoding="utf-8"
            )
            await wait_for(pilot, lambda: any(isinstance(m, CheckFinished) for m in messages), timeout=60)
            assert [m for m in messages if isinstance(m, CheckFinished)][0].result.status == "pass"

    run(scenario())


def test_postgres_failing_to_start_is_shown_not_raised(module, workspace):
    def broken():
        raise BackendError("the embedded Postgres did not start: disk full; fix: free some space")

    async def scenario():
        app = CourseApp(module, workspace, broken)
        async with app.run_test() as pilot:
            await wait_for(pilot, lambda: app.server_status == "failed")
            await pilot.pause(0.1)
            assert "disk full" in results_text(app)
            await pilot.press("n", "c")  # checking without a server explains instead of crashing
            assert app.checking is None

    run(scenario())


def test_quitting_stops_the_server_the_app_started(module, workspace, state_dir):
    from course.postgres.session import open_session

    from conftest import postgres_processes

    async def scenario():
        app = CourseApp(module, workspace, lambda: open_session("embedded"))
        async with app.run_test() as pilot:
            await wait_for(pilot, lambda: app.session is not None)
            server_dir = app.session.server.server_dir
            assert postgres_processes(server_dir)
            await pilot.press("ctrl+q")
        return server_dir

    server_dir = run(scenario())
    assert not server_dir.exists()
    assert postgres_processes(server_dir) == []
