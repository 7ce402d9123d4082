"""The main screen after a check, and saves made while a check runs (real app, Pilot, real
grading on the real embedded Postgres, real files)."""

from __future__ import annotations

import asyncio
import time

from course.learner.watching import CheckGate
from course.tui.app import CourseApp
from course.tui.messages import CheckFinished
from course.tui.screens.main import MainScreen
from course.tui.widgets.results import ResultsView
from course.tui.widgets.toc import SectionList

from conftest import SharedSession


async def wait_for(pilot, predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.05)


def results_text(app) -> str:
    return "\n".join(str(widget.render()) for widget in app.query_one(ResultsView).children)


def toc_entry(app, index: int) -> str:
    return str(app.query_one(SectionList).get_option_at_index(index).prompt)


def finished(messages) -> list[CheckFinished]:
    return [m for m in messages if isinstance(m, CheckFinished)]


def test_a_check_result_updates_the_results_and_the_marks_not_the_lesson(module, workspace, databases):
    messages = []
    section = [s.id for s in module.sections].index("03-engine-session")
    workspace.progress.set("section:sqlalchemy-2", "03-engine-session")

    async def scenario():
        app = CourseApp(module, workspace, lambda: SharedSession(databases))
        async with app.run_test(size=(100, 30), message_hook=messages.append) as pilot:
            screen = app.screen
            assert isinstance(screen, MainScreen)
            viewer = screen.query_one("#lesson-view")
            await wait_for(pilot, lambda: app.session is not None)
            await pilot.pause(0.3)
            await pilot.press("pagedown", "pagedown")
            await wait_for(pilot, lambda: viewer.scroll_y > 0, timeout=5)
            await pilot.pause(0.2)
            scrolled = viewer.scroll_y
            blocks = list(viewer.document.children)  # the lesson's laid-out blocks: a re-read replaces them
            loads = screen.lesson_loads
            assert "not checked yet" in str(screen.query_one("#exercise-text").source)
            assert "✗" not in toc_entry(app, section)

            await pilot.press("c")
            await wait_for(pilot, lambda: finished(messages) and not app.checking)
            await pilot.pause(0.3)

            assert finished(messages)[-1].result.status == "fail"
            assert "sqlalchemy-2/03-engine-session" in results_text(app) and "FAIL" in results_text(app)
            assert app.query_one("#tabs").active == "results"
            assert "✗" in toc_entry(app, section), toc_entry(app, section)  # the section's mark
            assert "checking" not in str(screen.query_one("#status").render())
            assert "failing" in str(screen.query_one("#exercise-text").source)  # the exercise's status line
            # the lesson was neither re-read nor scrolled
            assert screen.lesson_loads == loads
            assert all(a is b for a, b in zip(viewer.document.children, blocks, strict=True))
            await pilot.press("1")
            await pilot.pause(0.2)
            assert viewer.scroll_y == scrolled

    asyncio.run(scenario())


def test_a_save_during_a_check_checks_once_more_after_it(module, workspace, databases):
    """The starter is checked; the solution is saved (twice) while that check runs: exactly one
    more check follows, of the saved files."""
    messages = []
    workspace.progress.set("section:sqlalchemy-2", "02-models")

    async def scenario():
        app = CourseApp(module, workspace, lambda: SharedSession(databases))
        async with app.run_test(size=(100, 30), message_hook=messages.append) as pilot:
            await wait_for(pilot, lambda: app.session is not None)
            await wait_for(pilot, app.watcher_armed.is_set)  # its events for these saves arrive too
            exercise = app.exercise
            target = workspace.folder(exercise) / "models.py"
            solution = (exercise.solution_dir / "models.py").read_text(encoding="utf-8")
            # the checked version takes a while to import, so the saves below land during its check
            target.write_text("import time\ntime.sleep(1.5)\n" + target.read_text(encoding="utf-8"), encoding="utf-8")
            await wait_for(pilot, lambda: finished(messages) and not app.checking)  # the watcher's check of that write
            messages.clear()
            await pilot.press("c")
            assert app.checking == exercise.full_id
            target.write_text(solution + "\n# first save\n", encoding="utf-8")
            await pilot.pause(0.05)
            target.write_text(solution + "\n# second save\n", encoding="utf-8")
            assert app.checking == exercise.full_id and not finished(messages), "the saves came after the check"
            await wait_for(pilot, lambda: len(finished(messages)) >= 2 and not app.checking)
            await pilot.pause(2.0)  # the watcher's late events for the same saves check nothing more
            results = [m.result for m in finished(messages)]
            assert len(results) == 2, [r.status for r in results]
            assert results[-1].status == "pass"
            assert "PASS" in results_text(app)
        assert workspace.progress.latest(exercise.full_id).status == "pass"

    asyncio.run(scenario())


def test_the_gate_checks_a_save_once(tmp_path):
    """The policy itself: one check at a time, a save during it means one more, a version
    already checked is not checked again."""
    (tmp_path / "models.py").write_text("a = 1\n", encoding="utf-8")
    (tmp_path / "__pycache__").mkdir()
    gate = CheckGate()
    assert gate.saved(tmp_path)  # nothing checked yet: check
    gate.started("ex", tmp_path)
    assert not gate.saved(tmp_path)  # one runs
    assert not gate.finished()  # nothing saved meanwhile
    assert not gate.saved(tmp_path)  # the same files: already checked
    gate.started("ex", tmp_path)
    (tmp_path / "__pycache__" / "models.cpython-311.pyc").write_bytes(b"")  # not a source
    (tmp_path / "models.py").write_text("a = 2\n", encoding="utf-8")
    assert not gate.saved(tmp_path)
    assert gate.finished()  # saved during the check: once more
    gate.started("ex", tmp_path)
    assert not gate.finished()
    (tmp_path / "models.py").write_text("a = 3\n", encoding="utf-8")
    assert gate.saved(tmp_path)  # a new save after the check
    gate.started("ex", tmp_path)
    gate.cancelled()
    assert gate.running is None and gate.saved(tmp_path)  # a cancelled check saw nothing


def test_a_save_beside_the_exercise_folder_checks_nothing(module, workspace, databases):
    """A save in a sibling folder whose name starts like the exercise's (`02-models-old/`) is not
    a save of the exercise; a save in the exercise's folder is."""
    messages = []
    workspace.progress.set("section:sqlalchemy-2", "02-models")

    async def scenario():
        app = CourseApp(module, workspace, lambda: SharedSession(databases))
        async with app.run_test(size=(100, 30), message_hook=messages.append) as pilot:
            await wait_for(pilot, lambda: app.session is not None)
            await wait_for(pilot, app.watcher_armed.is_set)
            folder = workspace.folder(app.exercise)
            sibling = folder.with_name(folder.name + "-old")
            sibling.mkdir()
            (sibling / "models.py").write_text("x = 1\n", encoding="utf-8")
            await pilot.pause(1.5)
            assert not app.checking and not finished(messages), "a save beside the exercise started a check"
            (folder / "models.py").write_text(
                (folder / "models.py").read_text(encoding="utf-8") + "\n# saved\n", encoding="utf-8"
            )
            await wait_for(pilot, lambda: len(finished(messages)) >= 1)

    asyncio.run(scenario())
