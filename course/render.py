"""The one renderer of results, SQL and status signs, for the terminal (rich) and the app (Textual).

:func:`result_layout` lays a result out as :class:`Line` s of rich ``Text`` (learner-facing text is
never read as markup: a message full of ``Mapped[str]`` is shown as written); :func:`print_result`
prints them, the app's Results tab mounts them. Both show the same lines in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

from checker.results import ExerciseResult, StatementView, Status

COLOURS = {status: status.colour for status in Status}
"""The colour of a check's or an exercise's status, everywhere (CLI and TUI)."""
GLYPHS = {status: status.glyph for status in Status}
"""The sign of a status, everywhere; :data:`ICONS` is the same in colour (rich markup)."""
ICONS = {status: f"[{status.colour}]{status.glyph}[/]" for status in Status}
SECTION_ICONS = {"done": ICONS[Status.PASS], "failing": ICONS[Status.FAIL], "not started": "[dim]·[/]", "quiz": "[b]?[/]"}
"""A section's status in the table of contents: every exercise passed, one failing, …"""
SECTION_LEGEND = (("▶", "you are here"), ("✓", "passed"), ("✗", "failing"), ("·", "not started"), ("?", "quiz"))
"""What the table of contents' signs mean (the app's help and the line under the sections)."""
OUTPUT_TAIL = 15
"""Lines of what the learner's code printed shown under a result (the last ones)."""


def status_text(status: Status | str) -> Text:
    """``✗ failing`` in the status's colour."""
    status = Status(status)
    return Text(f"{status.glyph} {status.word}", style=status.colour)


def section_legend(per_line: int = 0) -> str:
    """``✓ passed  ✗ failing  · not started  ? quiz  ▶ you are here``; ``per_line``: that many
    signs a line (the sidebar's narrow box), else one line."""
    signs = [f"{sign} {word}" for sign, word in (*SECTION_LEGEND[1:], SECTION_LEGEND[0])]
    if per_line <= 0:
        return "  ".join(signs)
    return "\n".join("  ".join(signs[n : n + per_line]) for n in range(0, len(signs), per_line))


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
    unpassed = [c for c in result.checks if not c.passed]
    if len(unpassed) > 1 and all(c.status is Status.ERROR for c in unpassed) and len({c.message for c in unpassed}) == 1:
        return unpassed[0].message
    return None


def things_to_fix(result: ExerciseResult) -> int:
    """How many separate problems the learner has to fix: an error shared by every check is one."""
    if common_error(result) is not None:
        return 1
    return sum(1 for c in result.checks if not c.passed)


@dataclass
class Line:
    """One line (or block) of a result's layout.

    ``kind``: ``summary`` (the exercise, its verdict), ``check`` (a check's sign and title),
    ``message`` (what a check says), ``sql`` (the statements of a check: ``statements``),
    ``output`` (what the learner's code printed), ``next`` (what to do now).
    """

    kind: str
    text: Text = field(default_factory=Text)
    status: Status | None = None
    statements: list[StatementView] = field(default_factory=list)


def result_layout(result: ExerciseResult, *, verbose: bool = False, sql: bool = True) -> list[Line]:
    """A result as the learner reads it, in the terminal and in the app.

    Failing checks with their message (a message every unpassed check shares — the code could
    not run — once, as the one thing to fix); ``sql``: each failing check's statements (the app
    shows them on its SQL tab instead); ``verbose``: the passing checks' SQL and output too.
    """
    status = Status(result.status)
    passed = sum(1 for c in result.checks if c.passed)
    lines = [
        Line(
            "summary",
            Text.assemble(
                (result.exercise, "bold"),
                "  ",
                (status.upper(), status.colour),
                (f"  {passed}/{len(result.checks)} checks · {result.duration_s:.2f} s", "dim"),
            ),
            status,
        )
    ]
    shared = common_error(result)
    if shared is not None:
        waiting = len(result.checks) - passed
        lines.append(
            Line(
                "check",
                Text.assemble(
                    (Status.ERROR.glyph, Status.ERROR.colour),
                    f" Your code could not run, so none of its {waiting} checks ran. The one thing to fix:",
                ),
                Status.ERROR,
            )
        )
        lines.append(Line("message", Text(shared), Status.ERROR))
    # testimony is marked where an exercise's checks are judged apart from the learner's code and some
    # still rest on its word (an exercise judged the old way is all testimony: no mark, no noise)
    mixed = any(c.testimony for c in result.checks) and not all(c.testimony for c in result.checks)
    for check in result.checks:
        if shared is not None and not check.passed and not verbose:
            continue
        check_status = Status(check.status)
        lines.append(
            Line(
                "check",
                Text.assemble(
                    (check_status.glyph, check_status.colour),
                    f" {check.title or check.name} ",
                    (f"({check.name})", "dim"),
                    (f" {TESTIMONY_SIGN}" if mixed and check.testimony else "", "dim"),
                ),
                check_status,
            )
        )
        if not check.passed and check.message and shared is None:
            lines.append(Line("message", Text(check.message), check_status))
        if sql and check.statements and (not check.passed or verbose):
            lines.append(
                Line("sql", Text("SQL sent by your code during this check:", "dim"), check_status, list(check.statements))
            )
    if result.output.strip() and (not result.passed or verbose):
        tail = "\n".join(result.output.strip().splitlines()[-OUTPUT_TAIL:])
        lines.append(Line("output", Text.assemble(("Your code printed:", "dim"), "\n", (tail, "dim"))))
    return lines


TESTIMONY_SIGN = "≈"
"""Beside a check whose verdict rests on what the learner's process reported (docs/security.md)."""

INDENT = {"summary": 0, "check": 2, "message": 6, "sql": 6, "output": 2, "next": 2}
"""The terminal's indentation of each kind of line (the app's stylesheet does the same)."""


def print_result(console: Console, result: ExerciseResult, *, verbose: bool = False) -> None:
    from rich.padding import Padding

    for line in result_layout(result, verbose=verbose):
        indent = INDENT[line.kind]
        console.print(Padding(line.text, (0, 0, 0, indent)), highlight=False)
        if line.kind == "sql":
            console.print(Padding(statements_table(line.statements), (0, 0, 0, indent)), style=None)


def summary_row(result: ExerciseResult) -> tuple[Text, Text, Text]:
    """``exercise``, ``✗ failing``, what to fix: one row of :func:`print_summary`."""
    shared = common_error(result)
    if shared is not None:
        lines = shared.splitlines() or [""]
        to_fix = "could not run: " + (lines[1] if len(lines) > 1 else lines[0]).strip()  # "mod.py:1: SyntaxError…"
    else:
        to_fix = ", ".join(c.name for c in result.checks if not c.passed)
    return Text(result.exercise), status_text(result.status), Text(to_fix)


def print_summary(console: Console, results: list[ExerciseResult]) -> None:
    """One screen at the end of a long run: each exercise, its status and what to fix.

    The exercise and status columns never shrink (at any width, piped or not): what is cut,
    with an ellipsis, is the list of what to fix."""
    rows = [summary_row(result) for result in results]
    exercise_width = max((row[0].cell_len for row in rows), default=8)
    status_width = max((row[1].cell_len for row in rows), default=6)
    # fixed widths: rich's own shrinking can take a no_wrap column down to nothing
    rest = max(10, console.width - exercise_width - status_width - 6)
    table = Table(title="Summary", title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("exercise", no_wrap=True, width=exercise_width)
    table.add_column("status", no_wrap=True, width=status_width)
    table.add_column("to fix", overflow="ellipsis", no_wrap=True, max_width=rest)
    for row in rows:
        table.add_row(*row)
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
