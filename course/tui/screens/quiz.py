"""A section's quiz in the app, on the same engine as ``course quiz`` (course.quiz.session)."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, Markdown, SelectionList, Static

from course.content.quizbank import Choice, Question
from course.quiz.session import QuizSession
from course.quiz.terminal import humanise, inline, sql_side_by_side


class QuizScreen(Screen[int]):
    """One question at a time: answer, see the explanation, go on. Dismissed with the count answered."""

    BINDINGS = [
        Binding("escape", "leave", "Leave quiz"),
        Binding("ctrl+enter,ctrl+j", "answer", "Answer", show=True),
        Binding("n", "next", "Next", show=False),
        Binding("a", "answer_choice", "Answer", show=False),
        Binding("1", "rate('again')", "Again", show=False),
        Binding("2", "rate('hard')", "Hard", show=False),
        Binding("3", "rate('good')", "Good", show=False),
        Binding("4", "rate('easy')", "Easy", show=False),
    ]

    KEYS = (
        ("↑ ↓ space", "move, and pick a choice (several may be right)"),
        ("a", "answer a choice question (or ctrl+enter / ctrl+j)"),
        ("enter", "in the answer box: answer"),
        ("1 2 3 4", "after a recall answer: again / hard / good / easy"),
        ("n", "the next question, once answered"),
        ("escape", "leave the quiz (what you answered is kept)"),
    )
    """The keys ``?`` lists over this screen: ``(key, what it does)``."""

    def __init__(self, session: QuizSession, questions: list[Question], final_section: str):
        super().__init__()
        self.session = session
        self.questions = session.prepare(questions)  # the final section: one drawn attempt, not the pool
        self.final_section = final_section
        self.index = 0
        self.answered = False
        self.shown: list[Choice] = []
        """The current question's choices in the (shuffled) order they are shown."""

    def compose(self) -> ComposeResult:
        yield Label("", id="quiz-progress")
        with VerticalScroll(id="quiz-body"):
            yield Markdown(id="quiz-prompt")
            yield Static("", id="quiz-statement")
            yield SelectionList[str](id="quiz-choices")
            yield Input(placeholder="Type your answer and press enter", id="quiz-input")
            with Horizontal(id="quiz-ratings"):
                for number, rating in enumerate(("again", "hard", "good", "easy"), 1):
                    yield Button(f"{number} {rating}", id=f"rate-{rating}")
            yield Button("Answer", variant="primary", id="quiz-answer")
            yield Markdown(id="quiz-feedback")
            yield Static("", id="quiz-sql-diff")
        yield Footer()

    def on_mount(self) -> None:
        self.show_question()

    @property
    def question(self) -> Question:
        return self.questions[self.index]

    def show_question(self) -> None:
        question = self.question
        self.answered = False
        self.query_one("#quiz-progress", Label).update(
            f"Question {self.index + 1}/{len(self.questions)} · {question.section} · {question.kind}"
        )
        self.query_one("#quiz-prompt", Markdown).update(question.prompt)
        statement = self.query_one("#quiz-statement", Static)
        statement.update(f"[b]{escape(question.statement)}[/]" if question.kind == "sql" else "")
        statement.display = question.kind == "sql"
        choices = self.query_one("#quiz-choices", SelectionList)
        choices.clear_options()
        choices.display = question.kind == "choice"
        self.shown = self.session.present(question) if question.kind == "choice" else []
        for choice in self.shown:
            choices.add_option((inline(choice.text), choice.id))
        if self.shown:
            choices.highlighted = 0
        entry = self.query_one("#quiz-input", Input)
        entry.value = ""
        entry.display = question.kind in ("sql", "recall")
        entry.placeholder = (
            "The SQL it sends (one line), then enter"
            if question.kind == "sql"
            else "Type your answer (it must name the key terms), then enter"
            if question.must_mention
            else "Answer from memory, then enter"
        )
        self.query_one("#quiz-ratings").display = False
        self.query_one("#quiz-answer", Button).display = question.kind == "choice"
        self.query_one("#quiz-feedback", Markdown).update("")
        diff = self.query_one("#quiz-sql-diff", Static)
        diff.update("")
        diff.display = False
        (choices if question.kind == "choice" else entry).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_answer()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "quiz-answer":
            self.action_answer()
        elif event.button.id and event.button.id.startswith("rate-") and not self.answered:
            typed = self.query_one("#quiz-input", Input).value
            self.finish(self.session.grade_recall(self.question, event.button.id.removeprefix("rate-"), typed))

    def action_rate(self, rating: str) -> None:
        """1-4 grade a recall answer, as its buttons do (ctrl+enter cannot be typed everywhere)."""
        if self.query_one("#quiz-ratings").display and not self.answered:
            self.query_one(f"#rate-{rating}", Button).press()

    def action_answer_choice(self) -> None:
        """``a`` answers a choice question (typed into an answer box it is just a letter)."""
        if self.question.kind == "choice":
            self.action_answer()

    def action_answer(self) -> None:
        if self.answered:
            self.action_next()
            return
        question = self.question
        if question.kind == "choice":
            picked = list(self.query_one("#quiz-choices", SelectionList).selected)
            if not picked:
                self.notify("Select an answer first (space toggles a choice).", severity="warning")
                return
            self.finish(self.session.grade_choice(question, picked, self.shown))
        elif question.kind == "sql":
            self.finish(self.session.grade_sql(question, self.query_one("#quiz-input", Input).value))
        elif self.session.hides(question):  # the final check: graded by the key terms, no model answer shown
            self.finish(self.session.grade_recall(question, "good", self.query_one("#quiz-input", Input).value))
        else:
            self.query_one("#quiz-feedback", Markdown).update(f"**Model answer:**\n\n{question.answer}\n\nHow did you do?")
            ratings = self.query_one("#quiz-ratings")
            ratings.display = True
            self.query_one("#rate-good", Button).focus()

    def finish(self, outcome) -> None:
        question = self.question
        lines = []
        if self.session.hides(question):  # the final check: no verdict, answer or SQL a retake could replay
            self.session.record(question, outcome)
            self.query_one("#quiz-feedback", Markdown).update(
                "*Answer saved; the final check is scored at the end. Press **n**.*"
            )
            self.query_one("#quiz-ratings").display = False
            self.answered = True
            self.query_one("#quiz-body").focus()
            return
        if outcome.correct is True:
            lines.append("### ✓ Right")
        elif outcome.correct is False:
            lines.append("### ✗ Not quite")
            if question.kind == "choice":
                lines.append("Correct: " + "; ".join(question.correct_texts()))
        if outcome.expected:
            lines.append(f"SQLAlchemy sends:\n\n```sql\n{outcome.expected}\n```")
        lines += [f"- {note}" for note in outcome.feedback]
        lines.append(question.explanation)
        due = self.session.record(question, outcome)
        lines.append(f"*Next review {humanise(due, datetime.now(UTC))}. Press **n** for the next question.*")
        self.query_one("#quiz-feedback", Markdown).update("\n\n".join(lines))
        if outcome.correct is False and outcome.sql is not None:
            diff = self.query_one("#quiz-sql-diff", Static)
            diff.update(sql_side_by_side(outcome))
            diff.display = True
        self.query_one("#quiz-ratings").display = False
        self.answered = True
        self.query_one("#quiz-body").focus()

    def action_next(self) -> None:
        if not self.answered:
            return
        if self.index + 1 < len(self.questions):
            self.index += 1
            self.show_question()
            return
        summary = self.session.finish(self.final_section)
        message = f"Quiz done: {summary.describe()}." + (" Module complete!" if summary.completed_module else "")
        self.app.notify("\n".join([message, *summary.gate]), timeout=12 if summary.gate else 6)
        self.dismiss(len(self.session.answered))

    def action_leave(self) -> None:
        self.dismiss(len(self.session.answered))
