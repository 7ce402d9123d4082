"""The app's quiz screen (Pilot): shuffled choices answered by id, and a wrong SQL answer shown
next to the real SQL with the difference marked."""

from __future__ import annotations

import asyncio

from textual.app import App
from textual.widgets import Input, SelectionList, Static

from course.content.model import load_modules
from course.content.quizbank import load_quiz_bank
from course.learner.progress import Progress
from course.quiz.session import QuizSession
from course.tui.screens.quiz import QuizScreen


def quiz_app(tmp_path, question_ids, seed=3):
    module = load_modules()[0]
    bank = load_quiz_bank(module.quiz, {s.id for s in module.sections})
    session = QuizSession(bank, Progress(tmp_path / "p.sqlite3"), module.id, seed=seed)
    questions = [q for q in bank.questions if q.id in question_ids]

    class QuizApp(App):
        def on_mount(self) -> None:
            self.push_screen(QuizScreen(session, questions, module.sections[-1].id))

    return QuizApp(), session, questions


def test_a_wrong_sql_answer_is_shown_beside_the_real_sql(tmp_path):
    async def scenario():
        app, session, (question,) = quiz_app(tmp_path, {"predict-join-owner"})
        async with app.run_test(size=(120, 40)) as pilot:
            screen = app.screen
            screen.query_one(
                "#quiz-input", Input
            ).value = "SELECT d.title, u.email FROM documents d LEFT JOIN users u ON u.id = d.owner_id"
            await pilot.press("enter")
            await pilot.pause()
            diff = screen.query_one("#quiz-sql-diff", Static)
            assert diff.display
            table = diff.content
            yours, real = (list(column.cells)[0] for column in table.columns)
            assert "LEFT JOIN" in yours.plain and "LEFT" not in real.plain
            assert [yours.plain[s.start : s.end] for s in yours.spans] == ["LEFT"]
            assert session.progress.quiz_reviews(f"sqlalchemy-2/{question.id}") == [(False, 1)]

    asyncio.run(scenario())


def test_an_equivalent_sql_answer_is_right_and_shows_no_difference(tmp_path):
    async def scenario():
        app, session, (question,) = quiz_app(tmp_path, {"predict-join-owner"})
        async with app.run_test(size=(120, 40)) as pilot:
            screen = app.screen
            screen.query_one(
                "#quiz-input", Input
            ).value = "select d.title, u.email from documents d inner join users u on d.owner_id = u.id"
            await pilot.press("enter")
            await pilot.pause()
            assert not screen.query_one("#quiz-sql-diff", Static).display
            assert session.progress.quiz_reviews(f"sqlalchemy-2/{question.id}") == [(True, 3)]

    asyncio.run(scenario())


def test_the_choices_are_shown_shuffled_and_the_pick_is_stored_by_id(tmp_path):
    async def scenario():
        app, session, (question,) = quiz_app(tmp_path, {"orm-instance-is-a-row"}, seed=5)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = app.screen
            choices = screen.query_one("#quiz-choices", SelectionList)
            shown = [choices.get_option_at_index(i).value for i in range(choices.option_count)]
            assert shown == [c.id for c in screen.shown]
            assert sorted(shown) == sorted(c.id for c in question.choices)
            choices.highlighted = shown.index(question.correct[0])
            await pilot.press("space")
            screen.action_answer()
            await pilot.pause()
            ((_, stored),) = session.progress.quiz_answers(f"sqlalchemy-2/{question.id}")
            assert stored == {"picked": question.correct, "shown": shown}

    asyncio.run(scenario())


def test_a_typed_recall_answer_counts_only_when_it_names_the_key_terms(tmp_path):
    async def scenario(typed):
        app, session, _questions = quiz_app(tmp_path / typed[:3], {"check-recall-n-plus-one", "check-recall-n-plus-one-tags"})
        async with app.run_test(size=(120, 40)) as pilot:
            screen = app.screen
            # the final check: the screen asks one drawn attempt, not the pool
            assert screen.questions == session.draw() and len(screen.questions) == session.gate.questions
            while screen.question.group != "n-plus-one":
                screen.index += 1
            screen.show_question()
            question = screen.question
            assert "key terms" in screen.query_one("#quiz-input", Input).placeholder
            screen.query_one("#quiz-input", Input).value = typed
            await pilot.press("enter")  # graded by the key terms: no model answer or ratings to replay
            await pilot.pause()
            assert screen.answered and not screen.query_one("#quiz-ratings").display
            assert "selectinload" not in str(screen.query_one("#quiz-feedback").source)
            return session.progress.quiz_reviews(f"sqlalchemy-2/{question.id}")

    assert asyncio.run(scenario("the N+1 problem; selectinload sends one IN query; options")) == [(True, 3)]
    assert asyncio.run(scenario("lazy loading, I think")) == [(False, 3)]


def test_snapshot_of_a_wrong_sql_answer_beside_the_real_one(tmp_path, snap_compare):
    app, _session, _questions = quiz_app(tmp_path, {"predict-join-owner"})

    async def answer(pilot):
        await pilot.pause()
        pilot.app.screen.query_one(
            "#quiz-input", Input
        ).value = "SELECT d.title, u.email FROM documents d LEFT JOIN users u ON u.id = d.owner_id"
        await pilot.press("enter")
        await pilot.pause()
        pilot.app.screen.query_one("#quiz-body").scroll_end(animate=False)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(100, 36), run_before=answer)
