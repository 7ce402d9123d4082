"""Human output of the CLI with rich: results with ✓/✗, teaching messages, highlighted SQL."""

from __future__ import annotations

from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from checker.results import ExerciseResult, StatementView

ICONS = {"pass": "[green]✓[/]", "fail": "[red]✗[/]", "error": "[yellow]![/]"}


def statements_table(views: list[StatementView]) -> Table:
    from rich.syntax import Syntax  # pygments: only when there is SQL to show

    table = Table.grid(padding=(0, 1))
    table.add_column(justify="right", style="dim")
    table.add_column()
    for number, view in enumerate(views, 1):
        marker = "[red]▶[/]" if view.flagged else " "
        sql = Syntax(view.sql, "sql", word_wrap=True, background_color="default")
        parts: list = [sql]
        extra = "  ".join(p for p in (view.location, view.note) if p)
        repeat = f"× {view.count}  " if view.count > 1 else ""
        if extra or repeat:
            style = "red" if view.flagged else "dim"
            parts.append(Text(f"↳ {repeat}{extra}", style=style))
        table.add_row(f"{marker}{number}.", Group(*parts))
    return table


def print_result(console: Console, result: ExerciseResult, *, verbose: bool = False) -> None:
    colour = {"pass": "green", "fail": "red", "error": "yellow"}[result.status]
    console.print(f"[bold]{result.exercise}[/]  [{colour}]{result.status.upper()}[/]  [dim]{result.duration_s:.2f} s[/]")
    for check in result.checks:
        console.print(f"  {ICONS[check.status]} {escape(check.title or check.name)} [dim]({check.name})[/]")
        if check.status != "pass" and check.message:
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
