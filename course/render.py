"""Human output of the CLI with rich: results with ✓/✗, teaching messages, highlighted SQL."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

from checker.results import ExerciseResult, StatementView

COLOURS = {"pass": "green", "fail": "red", "error": "yellow"}
"""The colour of a check's or an exercise's status, everywhere (CLI and TUI)."""
GLYPHS = {"pass": "✓", "fail": "✗", "error": "!"}
"""The sign of a status, everywhere; :data:`ICONS` is the same in colour (rich markup)."""
ICONS = {status: f"[{COLOURS[status]}]{glyph}[/]" for status, glyph in GLYPHS.items()}
SECTION_ICONS = {"done": ICONS["pass"], "failing": ICONS["fail"], "not started": "[dim]·[/]", "quiz": "[b]?[/]"}
"""A section's status in the table of contents: every exercise passed, one failing, …"""


# -- SQL: one renderer for the CLI's printer and the TUI's SQL tab --------------------------------
# rich.syntax imports pygments: only when there is SQL to show, never for `course --help`


def sql_syntax(sql: str):
    """SQL text, highlighted, wrapped at the width it is given, on the terminal's background."""
    from rich.syntax import Syntax

    return Syntax(sql, "sql", word_wrap=True, background_color="default")


def statement_marker(number: int, view: StatementView, width: int = 0) -> Text:
    """``▶ 3.``: the row's number, marked when the failing check is about that statement."""
    return Text(f"{'▶' if view.flagged else ' '}{number:>{width}}.", style="red" if view.flagged else "dim")


def statement_body(view: StatementView) -> Group:
    """The statement highlighted, then ``↳ × 30  queries.py:12  lazy load of User.documents``."""
    parts: list = [sql_syntax(view.sql)]
    extra = "  ".join(p for p in (view.location, view.note) if p)
    repeat = f"× {view.count}  " if view.count > 1 else ""
    if extra or repeat:
        parts.append(Text(f"↳ {repeat}{extra}", style="bold red" if view.flagged else "dim"))
    return Group(*parts)


def statements_table(views: list[StatementView]) -> Table:
    """The statement list as one table: numbers on the left, each statement beside its number."""
    table = Table.grid(padding=(0, 1))
    table.add_column(justify="right")
    table.add_column()
    for number, view in enumerate(views, 1):
        table.add_row(statement_marker(number, view), statement_body(view))
    return table


def common_error(result: ExerciseResult) -> str | None:
    """The one message every unpassed check reports when the learner's code could not run at all
    (a syntax or import error, a crash at import): that is the one thing to fix, shown once."""
    unpassed = [c for c in result.checks if c.status != "pass"]
    if len(unpassed) > 1 and all(c.status == "error" for c in unpassed) and len({c.message for c in unpassed}) == 1:
        return unpassed[0].message
    return None


def things_to_fix(result: ExerciseResult) -> int:
    """How many separate problems the learner has to fix: an error shared by every check is one."""
    if common_error(result) is not None:
        return 1
    return sum(1 for c in result.checks if c.status != "pass")


def print_result(console: Console, result: ExerciseResult, *, verbose: bool = False) -> None:
    colour = COLOURS[result.status]
    console.print(f"[bold]{result.exercise}[/]  [{colour}]{result.status.upper()}[/]  [dim]{result.duration_s:.2f} s[/]")
    shared = common_error(result)
    if shared is not None:
        waiting = sum(1 for c in result.checks if c.status != "pass")
        console.print(f"  {ICONS['error']} Your code could not run, so none of its {waiting} checks ran. The one thing to fix:")
        for line in shared.splitlines():
            console.print(f"      {escape(line)}", highlight=False)
    for check in result.checks:
        if shared is not None and check.status != "pass" and not verbose:
            continue
        console.print(f"  {ICONS[check.status]} {escape(check.title or check.name)} [dim]({check.name})[/]")
        if check.status != "pass" and check.message and shared is None:
            for line in check.message.splitlines():
                console.print(f"      {escape(line)}", highlight=False)
        if check.statements and (check.status != "pass" or verbose):
            views = [StatementView(**s) if isinstance(s, dict) else s for s in check.statements]
            console.print("      [dim]SQL sent by your code during this check:[/]")
            console.print(statements_table(views), style=None)
    if result.output.strip() and (result.status != "pass" or verbose):
        console.print("  [dim]Your code printed:[/]")
        for line in result.output.strip().splitlines()[-15:]:
            console.print(f"    [dim]{escape(line)}[/]", highlight=False)


def print_summary(console: Console, results: list[ExerciseResult]) -> None:
    """One screen at the end of a long run: each exercise, its status and what to fix."""
    table = Table(title="Summary", title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("exercise", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("to fix", overflow="ellipsis", no_wrap=True)
    for result in results:
        shared = common_error(result)
        if shared is not None:
            lines = shared.splitlines() or [""]
            to_fix = "could not run: " + (lines[1] if len(lines) > 1 else lines[0]).strip()  # "mod.py:1: SyntaxError…"
        else:
            to_fix = ", ".join(c.name for c in result.checks if c.status != "pass")
        table.add_row(escape(result.exercise), f"{ICONS[result.status]} {result.status}", escape(to_fix))
    console.print(table)
    passed = sum(1 for r in results if r.passed)
    seconds = sum(r.duration_s for r in results)
    console.print(
        f"[bold]{passed}/{len(results)} passed[/] [dim]· {seconds:.1f} s of grading"
        + ("" if passed == len(results) else " · details of each failing one above; -v shows every check")
        + "[/]"
    )


class RunProgress:
    """Progress of a long run (``check --all``, ``validate``) on stderr: a rich progress bar on a
    terminal, plain lines when piped. Output printed to stdout meanwhile appears above the bar."""

    def __init__(self, label: str, total: int | None = None):
        self.label = label
        self.total = total
        self.done = 0
        self.console = Console(stderr=True, highlight=False)
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> RunProgress:
        if self.console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            columns = [SpinnerColumn(), TextColumn("{task.description}")]
            if self.total is not None:
                columns += [BarColumn(), MofNCompleteColumn()]
            self._bar = Progress(*columns, TimeElapsedColumn(), console=self.console, transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total)
        return self

    def step(self, text: str, *, advance: int = 1) -> None:
        """One more done (``advance=0``: only say what is happening now)."""
        self.done += advance
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, advance=advance, description=f"{self.label}: {escape(text)}")
            return
        count = f"[{self.done}/{self.total}] " if self.total is not None else ""
        self.console.print(f"{count}{text}", markup=False, highlight=False)

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()
