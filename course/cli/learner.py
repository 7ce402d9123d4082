"""The learner's commands: init, start, list, check, watch, hint, solution, reset, edit, exec, quiz."""

from __future__ import annotations

import contextlib
import json
import os
import sys

import click

from course.cli.base import EXIT_FAILED, Context, Fatal, global_options, main


@main.command()
@click.pass_obj
@global_options
def init(obj: Context) -> None:
    """Create the workspace (copies every exercise's starter files; never overwrites)."""
    from course.learner.workspace import Workspace

    workspace = Workspace(obj.workspace_path)
    copied = workspace.init(obj.modules)
    click.echo(f"Workspace ready at {workspace.root} ({len(copied)} starter files copied).")
    click.echo("Next: `course start`, or edit a file and run `course check 02`.")


@main.command()
@click.option("--module", "module_id", metavar="ID", help="Which module (default: where you left off).")
@click.pass_obj
@global_options
def start(obj: Context, module_id: str | None) -> None:
    """Open the course at your last position (creates the workspace on first run)."""
    from course.cli.start import run_start

    run_start(obj, obj.module(module_id))


@main.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@global_options
def list_(obj: Context, as_json: bool) -> None:
    """Modules, sections, exercises and their status."""
    from course.learner.status import module_status

    workspace = obj.workspace(create=False)
    data = [module_status(module, workspace if workspace.exists else None) for module in obj.modules]
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    from course.learner.status import print_status

    print_status(data)


# -- grading ----------------------------------------------------------------------------------


@main.command()
@click.argument("exercise", required=False)
@click.option("--all", "all_", is_flag=True, help="Grade every exercise.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (the shape README describes).")
@click.option("--solution", is_flag=True, help="Grade the reference solution instead of your workspace.")
@click.option("-v", "--verbose", is_flag=True, help="Show the SQL of passing checks too.")
@click.pass_obj
@global_options
def check(obj: Context, exercise: str | None, all_: bool, as_json: bool, solution: bool, verbose: bool) -> None:
    """Grade EXERCISE (e.g. 05, relationships, sqlalchemy-2/05-relationships) or --all."""
    if bool(exercise) == all_:
        raise Fatal("give one EXERCISE or --all; fix: e.g. `course check 05` or `course check --all`")
    if all_:
        exercises = [e for m in obj.modules for e in m.exercises]
    else:
        assert exercise is not None  # the check above: without --all, EXERCISE was given
        exercises = [obj.exercise(exercise)]
    from course.grading.local import check_exercises, service_allowed

    backend = obj.backend or os.environ.get("COURSE_BACKEND")
    url = obj.database_url or os.environ.get("COURSE_DATABASE_URL")
    if url:  # a URL that is not one fails here, before anything is made
        from course.postgres.url import parse_database_url

        parse_database_url(url)
    with closed_pipe_is_fine():
        results = check_exercises(
            exercises,
            obj.modules,
            workspace=None if solution else obj.workspace,
            open_databases=obj.database_session,
            use_service=service_allowed(backend, url),
            as_json=as_json,
            verbose=verbose,
        )
        if as_json:
            payload = [r.to_json() for r in results]
            click.echo(json.dumps(payload if all_ else payload[0], indent=2))
    sys.exit(0 if all(r.passed for r in results) else EXIT_FAILED)


class _PipeSafe:
    """``sys.stdout`` whose reader may leave (``course check 02 | head -1``): from the first write
    that finds the pipe closed on, output goes to ``os.devnull`` (as CPython's documentation on
    SIGPIPE advises), so the command finishes and exits with its own code."""

    def __init__(self, stream):
        self._stream = stream

    def _closed(self) -> None:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self._stream.fileno())
        os.close(devnull)

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._closed()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._closed()

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


@contextlib.contextmanager
def closed_pipe_is_fine():
    """Within it, a closed stdout never changes the outcome; a last flush is made inside."""
    original = sys.stdout
    sys.stdout = _PipeSafe(original)  # type: ignore[assignment]
    try:
        yield
        sys.stdout.flush()
    finally:
        sys.stdout = original


@main.command()
@click.argument("exercise", required=False)
@click.pass_obj
@global_options
def watch(obj: Context, exercise: str | None) -> None:
    """Re-grade EXERCISE (default: your current one) every time you save a file."""
    from course.grading.local import watch_exercise
    from course.learner.session import LearnerSession

    workspace = obj.workspace()
    if exercise is None:
        exercise = workspace.progress.get("position") or obj.modules[0].exercises[0].full_id
    found = obj.exercise(exercise)
    module = next(m for m in obj.modules if found in m.exercises)
    watch_exercise(LearnerSession(module, workspace), found, obj.database_session)


@main.command()
@click.argument("exercise")
@click.pass_obj
@global_options
def hint(obj: Context, exercise: str) -> None:
    """Show the next hint for EXERCISE (each call reveals one more)."""
    from course.learner.session import reveal

    found = obj.exercise(exercise)
    hints = reveal(obj.workspace(), found)
    for number, text in enumerate(hints.shown, 1):
        click.echo(f"Hint {number}/{hints.total}: {text}\n")
    if not hints.all_shown:
        click.echo(f"(run `course hint {found.id}` again for the next one)")
    else:  # what is left is the solution: say so, never nothing
        said = "That was the last hint" if hints.new else f"All {hints.total} hints of {found.id} are shown above"
        click.echo(f"{said}. Next: `course solution {found.id}` shows the reference solution.")


@main.command()
@click.argument("exercise")
@click.pass_obj
@global_options
def solution(obj: Context, exercise: str) -> None:
    """Show the reference solution (after you pass, or when you ask twice)."""
    from course.learner.hints import request_solution

    found = obj.exercise(exercise)
    files = request_solution(obj.workspace(), found)
    if files is None:
        click.echo(
            "Struggling is where the learning happens: try `course hint "
            f"{found.id}` first. Run `course solution {found.id}` once more to see the solution anyway."
        )
        return
    for name, text in files.items():
        click.echo(f"# ---- {name} ----")
        click.echo(text)


@main.command()
@click.argument("exercise")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
@global_options
def reset(obj: Context, exercise: str, yes: bool) -> None:
    """Restore EXERCISE's starter files (your current files are kept in a backup)."""

    found = obj.exercise(exercise)
    workspace = obj.workspace()
    folder = workspace.folder(found)
    if not yes and not _confirmed(f"Replace {folder} with the starter files? (a backup is kept)"):
        click.echo("Nothing changed.")
        sys.exit(EXIT_FAILED)
    backup = workspace.reset(found)
    click.echo(f"Restored the starter of {found.full_id}." + (f" Your previous files: {backup}" if backup else ""))


@main.command()
@click.argument("exercise")
@click.pass_obj
@global_options
def edit(obj: Context, exercise: str) -> None:
    """Open EXERCISE's main file in $VISUAL / $EDITOR (else in the built-in editor)."""
    from course.learner.editing import EditorFailed, editor_command, main_file, run_editor

    found = obj.exercise(exercise)
    folder = obj.workspace().folder(found)
    command = editor_command()
    if command is not None:
        try:
            sys.exit(run_editor(command, main_file(folder, found)))
        except EditorFailed as error:
            raise Fatal(str(error)) from None
    files = [folder / name for name in found.edit if (folder / name).is_file()]
    if not files:
        raise Fatal(
            f"{found.id}'s files are in folders; fix: open {folder} in your editor (set EDITOR to have `course edit` do it)"
        )
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise Fatal("no $VISUAL or $EDITOR set, and no terminal for the built-in editor; fix: export EDITOR=nano (or any editor)")
    from course.tui.editapp import EditApp

    EditApp(files).run()


def _confirmed(question: str) -> bool:
    """Ask yes/no; no answer at all (stdin closed or not a terminal with nothing to read) is "no"."""
    try:
        return click.confirm(question, default=False)
    except click.exceptions.Abort:
        if sys.stdin is None or sys.stdin.closed or not sys.stdin.isatty():
            click.echo("")
            return False
        raise


@main.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("exercise")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_obj
@global_options
def exec(obj: Context, exercise: str, command: tuple[str, ...]) -> None:  # noqa: A001 - the CLI verb
    """Run COMMAND in EXERCISE's folder with DATABASE_URL set to its dev database.

    Example: course exec 07-migrations -- alembic revision --autogenerate -m "create tables"
    """
    from course.grading.devdb import dev_database_url

    command = _take_global_options(obj, command)
    if not command:
        raise Fatal("no command given; fix: e.g. `course exec 07 -- alembic upgrade head`")
    found = obj.exercise(exercise)
    folder = obj.workspace().folder(found)
    url = dev_database_url(found, obj.backend, obj.database_url, notify=lambda line: click.echo(line, err=True))
    env = {**os.environ, "DATABASE_URL": url}
    # the tools installed beside course (alembic, uvicorn...) first, even when the venv is not activated
    import sysconfig

    scripts = sysconfig.get_path("scripts")
    env["PATH"] = os.pathsep.join([scripts, *(p for p in env.get("PATH", "").split(os.pathsep) if p and p != scripts)])
    import subprocess

    try:
        completed = subprocess.run(list(command), cwd=folder, env=env, check=False)
    except FileNotFoundError:
        raise Fatal(f"command not found: {command[0]}; fix: check the spelling, or install it in this environment") from None
    if completed.returncode != 0:
        from course.learner.unfinished import unfinished_todos

        todos = unfinished_todos(found, folder)
        if todos:  # the likely cause, in one line under the tool's own output
            more = f" (and {len(todos) - 1} more)" if len(todos) > 1 else ""
            click.echo(
                f"course: {command[0]} failed (exit {completed.returncode}): {todos[0].describe()}{more}; "
                f"fix: finish it in {folder / todos[0].file}, then run this again",
                err=True,
            )
    sys.exit(completed.returncode)


def _take_global_options(obj: Context, command: tuple[str, ...]) -> tuple[str, ...]:
    """``course exec 07 --workspace DIR -- CMD``: global options between EXERCISE and ``--`` are
    the runner's; what follows ``--`` (or the first other word) is the command."""
    names = {"--workspace": "workspace", "--backend": "backend", "--database-url": "database_url", "--content": "content"}
    words = list(command)
    while words and words[0] != "--":
        option, has_value, value = words[0].partition("=")
        if option not in names:
            break
        if not has_value:
            if len(words) < 2:
                raise Fatal(f"{option} needs a value; fix: e.g. `course exec 07 {option} VALUE -- alembic upgrade head`")
            value = words[1]
            words = words[1:]
        words = words[1:]
        obj.apply(names[option], (value,) if option == "--content" else value)
    if words and words[0] == "--":
        words = words[1:]
    return tuple(words)


@main.command()
@click.option("--section", "section", metavar="N", help="Drill one section (number or id), e.g. --section 11.")
@click.option("--due", is_flag=True, help="Only the questions due for review (the default without --section).")
@click.option("--all", "all_", is_flag=True, help="Every question of the module, due or not.")
@click.option("--stats", "show_stats", is_flag=True, help="Retention per section and what is due when.")
@click.option("--module", "module_id", metavar="ID", help="Which module (default: where you are).")
@click.pass_obj
@global_options
def quiz(obj: Context, section: str | None, due: bool, all_: bool, show_stats: bool, module_id: str | None) -> None:
    """Self-check quiz with spaced repetition; answer from memory (works with piped input too)."""
    from course.content.model import ContentError
    from course.content.quizbank import load_quiz_bank
    from course.quiz.session import QuizSession
    from course.quiz.terminal import print_stats, run_quiz

    module = obj.module(module_id)
    try:
        bank = load_quiz_bank(module.quiz, {s.id for s in module.sections})
    except ContentError as error:
        raise Fatal(f"broken quiz bank: {error}") from None
    workspace = obj.workspace()
    if show_stats:
        print_stats(bank, workspace.progress, module.id)
        return
    section_id = None
    if section:
        match = [s for s in module.sections if section in (s.id, str(s.number), f"{s.number:02d}") or s.id.endswith(section)]
        if len(match) != 1:
            raise Fatal(f"no section {section!r}; fix: use a number 1-{len(module.sections)}, e.g. --section 11")
        section_id = match[0].id
    session = QuizSession(bank, workspace.progress, module.id)
    if all_:
        questions = [q for q in bank.questions if section_id in (None, q.section)]
    else:
        questions = session.select(section=section_id, due_only=due)
    try:
        run_quiz(session, questions, module.sections[-1].id)
    except KeyboardInterrupt:
        sys.exit(130)


# -- the server -------------------------------------------------------------------------------
