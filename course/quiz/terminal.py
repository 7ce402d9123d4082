"""``course quiz`` in the plain terminal: one question at a time, also with piped input.

Every answer is saved the moment it is given, so EOF or Ctrl-C loses nothing.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from rich.console import Console
from rich.markdown import Markdown
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from course.content.quizbank import Choice, Question
from course.quiz.session import RATINGS, Outcome, QuizSession, stats
from course.quiz.sql import highlighted_difference

LETTERS = "abcdefghij"
MAX_RETRIES = 3


class EndOfInput(Exception):
    """The learner closed the input (EOF): stop, keeping what was answered."""


def ask(console: Console, prompt: str) -> str:
    console.print(prompt, end="", markup=True)
    try:
        return input()
    except EOFError:
        console.print()
        raise EndOfInput from None


def inline(text: str) -> Text:
    """A one-line Markdown-ish string: `code` spans highlighted, the rest plain."""
    result = Text()
    for index, part in enumerate(text.split("`")):
        result.append(part, style="bold cyan" if index % 2 else "")
    return result


def humanise(due: datetime, now: datetime) -> str:
    seconds = (due - now).total_seconds()
    if seconds < 90:
        return "in a minute"
    if seconds < 3600:
        return f"in {round(seconds / 60)} minutes"
    if seconds < 86400 * 1.5:
        return f"in {round(seconds / 3600)} hours"
    return f"in {round(seconds / 86400)} days"


def parse_choice(text: str, question: Question, shown: list[Choice] | None = None) -> list[str] | None:
    """``2``, ``b``, ``1,3`` or ``a c`` → the ids of the chosen choices, by the order they were
    ``shown`` in; None when not understood."""
    shown = shown or question.choices
    tokens = [t for t in re.split(r"[\s,;]+", text.strip().lower()) if t]
    picked = []
    for token in tokens:
        if token.isdigit() and 1 <= int(token) <= len(shown):
            picked.append(shown[int(token) - 1].id)
        elif len(token) == 1 and token in LETTERS[: len(shown)]:
            picked.append(shown[LETTERS.index(token)].id)
        else:
            return None
    if not picked or (not question.multiple and len(picked) > 1):
        return None
    return list(dict.fromkeys(picked))


def sql_side_by_side(outcome: Outcome) -> Table:
    """Your SQL and the real SQL next to each other, as compared, the differences highlighted."""
    table = Table(show_header=True, header_style="bold", expand=True, box=None, padding=(0, 2))
    table.add_column("yours")
    table.add_column("what SQLAlchemy sends")
    verdict = outcome.sql
    assert verdict is not None  # only called for an outcome of an SQL question (callers check outcome.sql)
    left, right = highlighted_difference(verdict.expected, verdict.typed)

    def assemble(parts, style):
        text = Text()
        for run, differs in parts:
            text.append(run, style=style if differs else "")
        return text

    table.add_row(assemble(right, "bold red reverse"), assemble(left, "bold green reverse"))
    return table


def run_question(console: Console, session: QuizSession, question: Question, number: int, total: int) -> None:
    console.rule(f"[bold]Question {number}/{total}[/] · {question.section}")
    console.print(Markdown(question.prompt))
    if question.kind == "choice":
        shown = session.present(question)
        for index, choice in enumerate(shown):
            console.print(Text.assemble(f"  {LETTERS[index]}) ", inline(choice.text)))
        hint = "several letters, e.g. a,c" if question.multiple else "one letter"
        for _ in range(MAX_RETRIES):
            picked = parse_choice(ask(console, f"Your answer ({hint}): "), question, shown)
            if picked is not None:
                break
            console.print(f"[yellow]Please answer with {hint} from the list.[/]")
        else:
            picked = []
        outcome = session.grade_choice(question, picked, shown)
        answer = ", ".join(question.choice(i).text for i in picked)
    elif question.kind == "sql":
        console.print(Syntax(question.statement, "python", background_color="default"))
        typed = ask(console, "Type the SQL this sends to Postgres (one line): ")
        outcome = session.grade_sql(question, typed)
        answer = typed
    elif session.hides(question):  # the final check: graded by the key terms, no model answer to replay
        typed = ask(console, "Type your answer from memory (it must name the key terms): ")
        outcome = session.grade_recall(question, "good", typed)
        answer = typed
    else:
        typed = ask(
            console,
            "Type your answer from memory (it must name the key terms): "
            if question.must_mention
            else "Answer from memory (type it, or think it and press Enter): ",
        )
        console.print("[bold]Model answer:[/]")
        console.print(Markdown(question.answer))
        rating = ""
        for _ in range(MAX_RETRIES):
            reply = ask(console, "How did you do? 1) again  2) hard  3) good  4) easy: ").strip().lower()
            rating = {"1": "again", "2": "hard", "3": "good", "4": "easy"}.get(reply, reply)
            if rating in RATINGS:
                break
            console.print("[yellow]Please answer 1, 2, 3 or 4.[/]")
        else:
            rating = "again"
        outcome = session.grade_recall(question, rating, typed)
        answer = typed
    show_outcome(console, session, question, outcome, answer)


def show_outcome(console: Console, session: QuizSession, question: Question, outcome: Outcome, answer: str) -> None:
    if session.hides(question):  # the final check: nothing a retake could replay (verdicts come at the end)
        session.record(question, outcome, answer)
        console.print("[dim]Answer saved. The final check is scored at the end.[/]")
        return
    if outcome.correct is True:
        console.print("[green bold]✓ Right.[/]")
    elif outcome.correct is False:
        console.print("[red bold]✗ Not quite.[/]")
        if question.kind == "choice":
            console.print(Text.assemble("Correct: ", inline("; ".join(question.correct_texts()))))
    if outcome.expected:
        console.print("SQLAlchemy sends:")
        console.print(Syntax(outcome.expected, "sql", word_wrap=True, background_color="default"))
        if outcome.correct is False and outcome.sql is not None:
            console.print(sql_side_by_side(outcome))
    for note in outcome.feedback:
        console.print(Markdown(f"→ {note}"))
    console.print(Markdown(question.explanation))
    due = session.record(question, outcome, answer)
    console.print(f"[dim]Next review {humanise(due, session.now())}.[/]")


def run_quiz(session: QuizSession, questions: list[Question], final_section: str, console: Console | None = None) -> int:
    """Drill ``questions``; returns the number answered."""
    console = console or Console(highlight=False)
    if not questions:
        console.print("Nothing is due right now. Try `course quiz --all`, or `course quiz --stats` to see what comes when.")
        return 0
    questions = session.prepare(questions)
    answered = 0
    try:
        for number, question in enumerate(questions, 1):
            run_question(console, session, question, number, len(questions))
            answered += 1
    except (EndOfInput, KeyboardInterrupt):
        console.print(f"\n[dim]Stopped. {answered} answer(s) saved.[/]")
        if answered == 0:
            return 0
    summary = session.finish(final_section)
    console.rule("Done")
    console.print(summary.describe() + ".")
    if summary.gate:
        console.print(Markdown("\n".join(summary.gate)))
    if summary.completed_module:
        console.print(f"[green bold]Module complete![/] You passed the final check ({final_section}).")
    return answered


def print_stats(bank, progress, module_id: str, console: Console | None = None) -> None:
    console = console or Console(highlight=False)
    table = Table(title=f"Quiz — {module_id}", title_justify="left")
    for column in ("section", "cards", "seen", "retention", "due now", "next due"):
        table.add_column(column, justify="left" if column == "section" else "right")
    now = datetime.now(UTC)
    for row in stats(bank, progress, module_id, now):
        retention = f"{row['retention']:.0%}" if row["retention"] is not None else "–"
        next_due = humanise(datetime.fromisoformat(row["next_due"]), now) if row["next_due"] else "–"
        table.add_row(row["section"], str(row["cards"]), str(row["seen"]), retention, str(row["due_now"]), next_due)
    console.print(table)
