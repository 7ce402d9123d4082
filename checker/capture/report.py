"""Turn captured statements into what the learner sees: numbered, folded, the culprits marked.

In the spirit of Django's numbered query list and sqltap's call sites: consecutive statements of
the same shape fold into one row ("× 30"), each row names the learner's line that sent it and,
for a lazy load, the attribute; flagged rows are the ones the failing check is about.
"""

from __future__ import annotations

from checker.capture.shape import pretty
from checker.results import StatementView

MAX_ROWS = 40


def statement_views(statements, flagged=()) -> list[StatementView]:
    flagged_ids = {id(statement): note for statement, note in flagged}
    views: list[StatementView] = []
    previous_key = None
    for statement in statements:
        shape = statement.shape
        if shape.kind == "TRANSACTION":
            continue
        note = flagged_ids.get(id(statement))
        is_flagged = id(statement) in flagged_ids
        if statement.lazy_load and not note:
            note = f"lazy load of {statement.lazy_load}"
        elif statement.relationship_load and not note:
            note = f"eager load of {statement.relationship_load}"
        key = (shape.normal, statement.location, note, is_flagged)
        if key == previous_key:
            views[-1].count += 1
            continue
        previous_key = key
        views.append(StatementView(pretty(statement.sql), 1, statement.location, note or None, is_flagged))
    if len(views) > MAX_ROWS:
        hidden = len(views) - MAX_ROWS
        views = views[:MAX_ROWS] + [StatementView(f"-- … {hidden} more rows not shown", 1)]
    return views
