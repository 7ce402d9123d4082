"""Helpers for checks of Alembic exercises: run the learner's migrations, explain failures,
describe drift and render "the migration you still need".

Alembic runs in the grading process on the learner's own ``alembic.ini``, ``env.py`` and
revisions, exactly as the ``alembic`` command would; the SQL it sends is captured like any
other learner SQL, so a failing migration's statement can be flagged.
"""

from __future__ import annotations

import ast
import inspect as pyinspect
import io
import os
import textwrap
import traceback
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import inspect

from checker.api import fail
from checker.tracebacks import learner_traceback

Advice = Callable[[str], "str | None"]
"""Maps an error's text to a sentence on what it usually means in this exercise (or None)."""


def alembic_config(learner, database_url: str | None = None, *, missing: str = ""):
    """The learner's alembic.ini as Alembic's Config; with ``database_url``, its URL option set.

    ``missing``: what to say when alembic.ini is not there (by default: copy it back from the starter).
    """
    from alembic.config import Config

    ini = learner.dir / "alembic.ini"
    if not ini.is_file():
        fail(missing or f"alembic.ini is missing from your exercise folder: copy it back from the starter ({learner.dir.name})")
    if not (learner.dir / "alembic" / "env.py").is_file():
        fail(f"alembic/env.py is missing: copy it back from the starter ({learner.dir.name})")
    config = Config(str(ini), stdout=io.StringIO())
    config.set_main_option("script_location", str(learner.dir / "alembic"))
    if database_url is not None:
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def alembic_cfg(learner, database_url):
    """A fixture to declare in ``checks.py`` with ``fixture(alembic_cfg)``: the learner's alembic.ini
    with ``DATABASE_URL`` passed to Alembic by the grader (as pytest-alembic passes its own
    connection), so that one check, not all of them, reports an env.py that ignores it."""
    return alembic_config(learner, database_url)


def script_directory(learner, config, advice: Advice | None = None):
    """The learner's revisions (Alembic's ScriptDirectory); a failure that explains it if Alembic cannot read them."""
    from alembic.script import ScriptDirectory

    try:
        return ScriptDirectory.from_config(config)
    except Exception as error:
        fail("Alembic could not read your revisions in alembic/versions/:\n" + explain(error, learner, advice))


def common_advice(text_: str) -> str | None:
    """What an Alembic error usually means, in any exercise."""
    if "NoSuchModuleError" in text_ or "driver://" in text_ or "Can't load plugin: sqlalchemy.dialects:driver" in text_:
        return (
            "Alembic tried to connect with the placeholder URL of alembic.ini "
            "(driver://user:pass@localhost/dbname). In alembic/env.py, read the real URL from the "
            'environment: config.set_main_option("sqlalchemy.url", os.environ["DATABASE_URL"])'
        )
    if "Multiple head revisions" in text_ or "multiple heads" in text_.lower():
        return "Your revisions form two branches (two heads): see the check `single-head`."
    if "Can't locate revision" in text_ or "No such revision" in text_ or "is not present" in text_:
        return "A down_revision names a revision id that no file in alembic/versions/ has: check for typos."
    return None


def explain(error: BaseException, learner, advice: Advice | None = None) -> str:
    """The error, the learner's frames, and what it usually means (exercise advice first)."""
    text_ = f"{type(error).__name__}: {error}"
    hint = (advice(text_) if advice else None) or common_advice(text_)
    return learner_frames(error, learner) + (f"\n→ {hint}" if hint else "")


def run_alembic(
    learner, sql, config, verb: str, target: str, *, doing: str = "", owner: str = "", advice: Advice | None = None
) -> None:
    """``alembic <verb> <target>``; a failure names the command, the learner's line and the cause.

    ``owner``: this run only sets the stage, the check named there reports its failure in full.
    """
    from alembic import command

    with sql.capture() as log:
        try:
            getattr(command, verb)(config, target)
        except SystemExit as error:
            command_exited(verb, target, error, doing=doing)
        except Exception as error:
            detail = learner_frames(error, learner) if owner else explain(error, learner, advice)
            command_failed(sql, log, verb, target, detail, doing=doing, owner=owner)


def shown_target(target: str) -> str:
    """``target`` as messages show it: ``heads`` (which also works with two heads, see single-head) as ``head``."""
    return "head" if target == "heads" else target


def command_exited(verb: str, target: str, status: object, *, doing: str = "") -> None:
    """Fail: ``alembic <verb> <target>`` called ``sys.exit(status)``."""
    fail(f"{doing}`alembic {verb} {shown_target(target)}` exited ({status}): alembic/env.py must not call sys.exit()")


def command_failed(sql, log, verb: str, target: str, detail: str, *, doing: str = "", owner: str = "") -> None:
    """Fail: ``alembic <verb> <target>`` raised (``detail``: why), the last statement Postgres
    received in ``log`` flagged. ``owner``: this run only set the stage, the check named there
    reports the failure in full (``detail``: the learner's frames)."""
    if log:
        sql.flag(log[-1:], "the statement that failed")
    shown = shown_target(target)
    if owner:
        fail(f"{doing}`alembic {verb} {shown}` fails, so this can't be tested yet (see the check `{owner}`):\n{detail}")
    fail(f"{doing}`alembic {verb} {shown}` failed:\n{detail}")


class Advised:
    """:func:`explain`, :func:`script_directory` and :func:`run_alembic` bound to one exercise's
    advice: ``alembic = Advised(advice)`` once in ``checks.py``, then ``alembic.run(...)``."""

    def __init__(self, advice: Advice | None = None):
        self.advice = advice

    def explain(self, error: BaseException, learner) -> str:
        return explain(error, learner, self.advice)

    def script_directory(self, learner, config):
        return script_directory(learner, config, self.advice)

    def run(self, learner, sql, config, verb: str, target: str, **options) -> None:
        """``alembic <verb> <target>``, as :func:`run_alembic` (``doing``, ``owner``)."""
        run_alembic(learner, sql, config, verb, target, advice=self.advice, **options)


def relative(learner, path) -> str:
    try:
        return str(Path(path).resolve().relative_to(learner.dir))
    except ValueError:
        return str(path)


def function_line(learner, script, name: str) -> str:
    """``alembic/versions/x.py:41`` — where ``name()`` of that revision is defined."""
    function = getattr(script.module, name, None)
    where = relative(learner, script.path)
    code = getattr(function, "__code__", None)
    return f"{where}:{code.co_firstlineno}" if code else where


def error_summary(error: BaseException) -> str:
    """``UndefinedTable: relation "users" does not exist`` (the driver's error, not SQLAlchemy's wrapper)."""
    original = getattr(error, "orig", None)
    shown = original if original is not None else error
    lines = [line for line in str(shown).strip().splitlines() if line.strip()][:3]
    text_ = "\n".join(line[:300] for line in lines)
    return f"{type(shown).__name__}: {text_}" if text_ else type(shown).__name__


def learner_frames(error: BaseException, learner) -> str:
    """The frames in the learner's files; only the revision's own when the error happened there."""
    if isinstance(error, SyntaxError):
        return learner_traceback(error, learner.dir)
    root = os.path.join(str(learner.dir), "")  # with its separator: a sibling sharing the prefix is not inside
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename.startswith(root)]
    in_revisions = [f for f in frames if "/alembic/versions/" in f.filename]
    lines = []
    for frame in (in_revisions or frames)[-4:]:
        lines.append(f"{relative(learner, frame.filename)}:{frame.lineno} in {frame.name}")
        if frame.line:
            lines.append(f"    {frame.line}")
    return "\n".join(lines + [error_summary(error)])


def is_noop(function) -> bool:
    """Whether ``function``'s body is only a docstring, comments and ``pass``."""
    try:
        tree = ast.parse(textwrap.dedent(pyinspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):
        return False
    body = tree.body[0].body if tree.body and hasattr(tree.body[0], "body") else []
    return all(
        isinstance(node, ast.Pass) or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)) for node in body
    )


def table_names(db) -> set[str]:
    return set(inspect(db).get_table_names())


def compare(db, metadata):
    from alembic.autogenerate import compare_metadata, produce_migrations, render_python_code
    from alembic.runtime.migration import MigrationContext

    with db.connect() as conn:
        # compare_server_default: off in Alembic by default, but the models say Postgres fills
        # created_at with now(); a migration that forgets it is a real mismatch (lesson: gap 2).
        context = MigrationContext.configure(conn, opts={"compare_type": _lengths_too, "compare_server_default": True})
        diffs = compare_metadata(context, metadata)
        upgrade = produce_migrations(context, metadata).upgrade_ops
        code = render_python_code(upgrade) if diffs and upgrade is not None else ""
    return diffs, code


def _lengths_too(context, inspected_column, metadata_column, inspected_type, metadata_type):
    """Alembic's type comparison, plus what it lets pass: a VARCHAR without the length models.py
    gives it (``sa.String()`` for ``String(255)``: no limit on what Postgres accepts)."""
    wanted = getattr(metadata_type, "length", None)
    if wanted is not None and hasattr(inspected_type, "length") and inspected_type.length != wanted:
        return True
    return None  # Alembic decides


def sql_type(type_) -> str:
    """The type as Postgres spells it (`TIMESTAMP WITH TIME ZONE`, not `DATETIME`)."""
    from sqlalchemy.dialects import postgresql

    try:
        return type_.compile(dialect=postgresql.dialect())
    except Exception:
        return str(type_)


def describe(diff) -> str:
    if isinstance(diff, list):  # column modifications come grouped in a list
        return "; ".join(describe(d) for d in diff)
    kind = diff[0]
    if kind == "add_table":
        return f"table `{diff[1].name}` is in models.py, but no revision creates it"
    if kind == "remove_table":
        return f"table `{diff[1].name}` is in the database, but not in models.py"
    if kind == "add_column":
        return f"column `{diff[2]}.{diff[3].name}` is in models.py, but no revision creates it"
    if kind == "remove_column":
        return f"column `{diff[2]}.{diff[3].name}` is in the database, but not in models.py"
    if kind == "modify_nullable":
        _, _, table, column, _, database, model = diff
        said = lambda nullable: "NULL" if nullable else "NOT NULL"  # noqa: E731
        return f"`{table}.{column}` is {said(database)} in the database; models.py says {said(model)}"
    if kind == "modify_type":
        _, _, table, column, _, database, model = diff
        return f"`{table}.{column}` is {sql_type(database)} in the database; models.py says {sql_type(model)}"
    if kind == "modify_default":
        _, _, table, column, _, database, model = diff
        model_default = getattr(model, "arg", model)
        model_text = getattr(model_default, "text", None) or (str(model_default) if model_default is not None else None)
        has = f"has server default {database}" if database else "has no server default"
        return f"`{table}.{column}` {has} in the database; models.py says {model_text or 'none'}"
    if kind in ("add_constraint", "remove_constraint"):
        constraint = diff[1]
        columns = ", ".join(c.name for c in constraint.columns)
        label = "UNIQUE" if type(constraint).__name__ == "UniqueConstraint" else type(constraint).__name__
        where = f"{label} ({columns}) on `{constraint.table.name}`"
        return (
            f"{where} is in models.py but not in the database"
            if kind == "add_constraint"
            else (f"{where} is in the database but not in models.py")
        )
    if kind in ("add_index", "remove_index"):
        index = diff[1]
        columns = ", ".join(c.name for c in index.columns)
        unique = "unique " if index.unique else ""
        side = "models.py but not in the database" if kind == "add_index" else "the database but not in models.py"
        return f"{unique}index on `{index.table.name}` ({columns}) is in {side}"
    if kind in ("add_fk", "remove_fk"):
        fk = diff[1]
        columns = ", ".join(c.name for c in fk.columns)
        target = ", ".join(e.target_fullname for e in fk.elements)
        side = "models.py but not in the database" if kind == "add_fk" else "the database but not in models.py"
        return f"foreign key `{fk.table.name}`({columns}) → {target} is in {side}"
    return str(diff)


def tidy(code: str) -> str:
    lines = [line for line in code.splitlines() if line.strip() and not line.strip().startswith("# ###")]
    return "\n".join("    " + line.strip() if not line.startswith("    ") else line for line in lines)


def has_default_change(diffs) -> bool:
    flat = [d for group in diffs for d in (group if isinstance(group, list) else [group])]
    return any(d[0] == "modify_default" for d in flat)


def drift_message(diffs, code: str, intro: str) -> str:
    shown = [f"  - {describe(d)}" for d in diffs[:12]]
    if len(diffs) > 12:
        shown.append(f"  - … and {len(diffs) - 12} more")
    note = ""
    if has_default_change(diffs):
        note = (
            "\n(Alembic leaves server defaults out of its comparison unless compare_server_default=True; "
            "the grader turns it on, because without the default Postgres no longer fills the column "
            "and every INSERT that omits it fails.)"
        )
    return (
        f"{intro}\n"
        + "\n".join(shown)
        + note
        + "\n\nThe migration you still need (what `alembic revision --autogenerate` would write now):\n"
        + tidy(code)
    )
