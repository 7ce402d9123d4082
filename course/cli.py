"""The ``course`` command line: a thin click group over content, workspace, Postgres and checker.

Heavy imports (SQLAlchemy, rich, Textual) happen inside commands, so ``course --help`` is instant.
Exit codes: 0 all checks passed; 1 a check failed; 2 usage, configuration or environment error.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from pathlib import Path

import click

from course import __version__, locations
from course.errors import CourseError

EXIT_FAILED = 1
EXIT_USAGE = 2


class Fatal(click.ClickException):
    """A one-line error (cause and fix) that exits 2."""

    exit_code = EXIT_USAGE

    def show(self, file=None) -> None:
        click.echo(f"course: error: {self.message}", err=True)


class Context:
    """Options shared by every command, and the objects built from them on demand."""

    def __init__(self, workspace: str | None, backend: str | None, database_url: str | None, content: tuple[str, ...] = ()):
        self.workspace_path = locations.workspace_dir(workspace)
        self.backend = backend
        self.database_url = database_url
        self.content = content
        self._modules = None

    def apply(self, name: str, value) -> None:
        """A global option given after the command name: it wins over the same one given before."""
        if name == "workspace":
            self.workspace_path = locations.workspace_dir(value)
        elif name == "content":
            self.content = (*self.content, *value)
            self._modules = None
        else:
            setattr(self, name, value)

    @property
    def modules(self):
        if self._modules is None:
            from course.content import content_roots, load_content

            self._modules, problems = load_content(content_roots(self.content))
            for problem in problems:
                click.echo(f"course: warning: skipping broken content: {problem}", err=True)
            for module in self._modules:
                for problem in module.problems:
                    click.echo(f"course: warning: skipping a broken exercise: {problem}", err=True)
            if not self._modules:
                raise Fatal("no course content could be loaded; fix: reinstall course, or check --content / COURSE_PATH")
        return self._modules

    def module(self, module_id: str | None = None):
        """The module named ``module_id``; by default the one of the last position, else the first."""
        explicit = module_id is not None
        if module_id is None:
            from course.workspace import Workspace

            workspace = Workspace(self.workspace_path)
            if workspace.exists:
                module_id = (workspace.progress.get("position") or "").split("/", 1)[0] or None
                workspace.close()
        for module in self.modules:
            if module.id == module_id:
                return module
        if explicit:
            known = ", ".join(m.id for m in self.modules)
            raise Fatal(f"no module {module_id!r}; fix: use one of {known}")
        return self.modules[0]

    def exercise(self, query: str):
        from course.content import ExerciseNotFound, Section

        try:
            found = find(self.modules, query)
        except ExerciseNotFound as error:
            raise Fatal(str(error)) from None
        if isinstance(found, Section):
            raise Fatal(
                f"{found.id} is a quiz-only section with nothing to check; "
                f"fix: run `course quiz --section {found.number}`"
            )
        return found

    def workspace(self, *, create: bool = True):
        from course.workspace import Workspace, WorkspaceError

        workspace = Workspace(self.workspace_path)
        if create:
            new = not workspace.exists
            try:
                workspace.init(self.modules)  # also brings starters of newly added content; never overwrites
            except WorkspaceError as error:
                raise Fatal(str(error)) from None
            if new:
                click.echo(f"Created your workspace at {workspace.root}", err=True)
        return workspace

    def database_session(self, spares: int = 1):
        from course.postgres.base import BackendError

        try:
            return self.database_session_opener(spares)()
        except BackendError as error:
            raise Fatal(str(error)) from None
        except OSError as error:
            from course.errors import postgres_environment_error

            raise Fatal(postgres_environment_error(error)) from None

    def database_session_opener(self, spares: int = 1):
        """A function that opens a database session (raises BackendError) — for workers."""
        from course.postgres.session import open_session

        return lambda: open_session(self.backend, self.database_url, spares=spares)


def find(modules, query):
    """An exercise (or quiz-only section) by id, short form, or section number (``5`` for §5)."""
    from course.content import ExerciseNotFound, find_exercise

    try:
        return find_exercise(modules, query)
    except ExerciseNotFound:
        found = _by_section_number(modules, query)
        if found is None:
            raise
        return found


def _by_section_number(modules, query: str):
    """The one exercise of the section numbered ``query`` as `course list` shows it, else None."""
    if not query.isdigit():
        return None
    sections = [s for m in modules for s in m.sections if s.number == int(query)]
    if len(sections) != 1:
        return None
    section = sections[0]
    if len(section.exercises) > 1:
        from course.content import ExerciseNotFound

        names = ", ".join(e.id for e in section.exercises)
        raise ExerciseNotFound(f"section {query} has several exercises ({names}); fix: give one of their ids")
    return section.exercises[0] if section.exercises else section


def _terminate_cleanly(signum, frame):  # pragma: no cover - exercised through subprocess tests
    raise SystemExit(128 + signum)


def _global_options(**extra):
    """The options of every command, as decorators; ``extra`` is passed to each ``click.option``."""
    return [
        click.option("--workspace", metavar="DIR", help="Workspace folder (default ./course-work, or COURSE_WORKSPACE).", **extra),
        click.option("--backend", type=click.Choice(["embedded", "docker", "url"]), help="Postgres backend (or COURSE_BACKEND).", **extra),
        click.option("--database-url", metavar="URL", help="Existing server for the url backend (or COURSE_DATABASE_URL).", **extra),
        click.option("--content", metavar="DIR", multiple=True, help="An extra content root (lessons/, exercises/, quizzes/); or COURSE_PATH.", **extra),
    ]


def _merge_global_option(ctx: click.Context, param: click.Parameter, value) -> None:
    if value not in (None, ()):
        ctx.find_object(Context).apply(param.name, value)


def _with_options(options):
    def decorate(function):
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


def global_options(command):
    """Accept the global options after the command name too (``course check 02 --workspace DIR``),
    as git, pip and docker users expect: they are merged into the shared :class:`Context`."""
    return _with_options(_global_options(expose_value=False, callback=_merge_global_option))(command)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="course")
@_with_options(_global_options())
@click.pass_context
def main(ctx: click.Context, workspace: str | None, backend: str | None, database_url: str | None, content: tuple[str, ...]) -> None:
    """A course on SQLAlchemy 2.0, Alembic and FastAPI persistence, graded against a throwaway Postgres.

    Start with `course start`. Exercises live in your workspace; grade one with `course check 05`.
    """
    signal.signal(signal.SIGTERM, _terminate_cleanly)
    ctx.obj = Context(workspace, backend, database_url, content)


# -- workspace --------------------------------------------------------------------------------

@main.command()
@click.pass_obj
@global_options
def init(obj: Context) -> None:
    """Create the workspace (copies every exercise's starter files; never overwrites)."""
    from course.workspace import Workspace, WorkspaceError

    workspace = Workspace(obj.workspace_path)
    try:
        copied = workspace.init(obj.modules)
    except WorkspaceError as error:
        raise Fatal(str(error)) from None
    click.echo(f"Workspace ready at {workspace.root} ({len(copied)} starter files copied).")
    click.echo("Next: `course start`, or edit a file and run `course check 02`.")


@main.command()
@click.option("--module", "module_id", metavar="ID", help="Which module (default: where you left off).")
@click.pass_obj
@global_options
def start(obj: Context, module_id: str | None) -> None:
    """Open the course at your last position (creates the workspace on first run)."""
    from course.start import run_start

    run_start(obj, obj.module(module_id))


@main.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@global_options
def list_(obj: Context, as_json: bool) -> None:
    """Modules, sections, exercises and their status."""
    from course.status import module_status

    workspace = obj.workspace(create=False)
    data = [module_status(module, workspace if workspace.exists else None) for module in obj.modules]
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    from course.status import print_status

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
    exercises = [e for m in obj.modules for e in m.exercises] if all_ else [obj.exercise(exercise)]
    from course.checking import check_exercises

    results = check_exercises(obj, exercises, solution=solution, as_json=as_json, verbose=verbose)
    if as_json:
        payload = [r.to_json() for r in results]
        click.echo(json.dumps(payload if all_ else payload[0], indent=2))
    sys.exit(0 if all(r.passed for r in results) else EXIT_FAILED)


@main.command()
@click.argument("exercise", required=False)
@click.pass_obj
@global_options
def watch(obj: Context, exercise: str | None) -> None:
    """Re-grade EXERCISE (default: your current one) every time you save a file."""
    from course.checking import watch_exercise

    watch_exercise(obj, exercise)


@main.command()
@click.argument("exercise")
@click.pass_obj
@global_options
def hint(obj: Context, exercise: str) -> None:
    """Show the next hint for EXERCISE (each call reveals one more)."""
    from course.tutoring import reveal_hint

    found = obj.exercise(exercise)
    shown = reveal_hint(obj.workspace(), found)
    for number, text in enumerate(shown, 1):
        click.echo(f"Hint {number}/{len(found.hints)}: {text}\n")
    if len(shown) < len(found.hints):
        click.echo(f"(run `course hint {found.id}` again for the next one)")


@main.command()
@click.argument("exercise")
@click.pass_obj
@global_options
def solution(obj: Context, exercise: str) -> None:
    """Show the reference solution (after you pass, or when you ask twice)."""
    from course.tutoring import request_solution

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
    from course.workspace import WorkspaceError

    found = obj.exercise(exercise)
    workspace = obj.workspace()
    folder = workspace.folder(found)
    if not yes and not _confirmed(f"Replace {folder} with the starter files? (a backup is kept)"):
        click.echo("Nothing changed.")
        sys.exit(EXIT_FAILED)
    try:
        backup = workspace.reset(found)
    except WorkspaceError as error:
        raise Fatal(str(error)) from None
    click.echo(f"Restored the starter of {found.full_id}." + (f" Your previous files: {backup}" if backup else ""))


@main.command()
@click.argument("exercise")
@click.pass_obj
@global_options
def edit(obj: Context, exercise: str) -> None:
    """Open EXERCISE's main file in $VISUAL / $EDITOR (else in the built-in editor)."""
    from course.editing import EditorFailed, editor_command, main_file, run_editor

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
        raise Fatal(f"{found.id}'s files are in folders; fix: open {folder} in your editor (set EDITOR to have `course edit` do it)")
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
    from course.devdb import dev_database_url

    command = _take_global_options(obj, command)
    if not command:
        raise Fatal("no command given; fix: e.g. `course exec 07 -- alembic upgrade head`")
    found = obj.exercise(exercise)
    folder = obj.workspace().folder(found)
    url = dev_database_url(found, obj.backend, obj.database_url, notify=lambda line: click.echo(line, err=True))
    env = {**os.environ, "DATABASE_URL": url}
    import subprocess

    try:
        completed = subprocess.run(list(command), cwd=folder, env=env, check=False)
    except FileNotFoundError:
        raise Fatal(f"command not found: {command[0]}; fix: check the spelling, or install it in this environment") from None
    if completed.returncode != 0:
        from course.unfinished import unfinished_todos

        todos = unfinished_todos(found, folder)
        if todos:  # the likely cause, in one line under the tool's own output
            more = f" (and {len(todos) - 1} more)" if len(todos) > 1 else ""
            click.echo(f"course: {command[0]} failed (exit {completed.returncode}): {todos[0].describe()}{more}; "
                       f"fix: finish it in {folder / todos[0].file}, then run this again", err=True)
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
    from course.content import ContentError
    from course.quiz import QuizSession
    from course.quizbank import load_quiz_bank
    from course.quizcli import print_stats, run_quiz

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

@main.group()
def db() -> None:
    """The throwaway Postgres server: status, start, stop, url."""


@db.command("status")
@click.pass_obj
@global_options
def db_status(obj: Context) -> None:
    """Say whether the shared server and the grading service are running."""
    from course import service
    from course.postgres import embedded

    server = embedded.running_persistent()
    if server:
        click.echo(f"running: {server.describe()} (pid {server.pid()})")
    else:
        click.echo("no shared server running; each command starts its own (or run `course db start`)")
    try:
        click.echo(f"grading service: ready (pid {service.ping()}), `course check` uses it")
    except service.ServiceUnavailable as why:
        if server or service.running_pid():
            click.echo(f"grading service: not in use: {why}")


@db.command("start")
@click.pass_obj
@global_options
def db_start(obj: Context) -> None:
    """Start a shared embedded server and a warm grading service that later commands reuse
    (until `course db stop`)."""
    from course import service
    from course.postgres import embedded
    from course.postgres.base import BackendError

    server = embedded.running_persistent()
    if server is None:
        try:
            server = embedded.start(persistent=True)
        except BackendError as error:
            raise Fatal(str(error)) from None
    click.echo(f"running: {server.describe()} (pid {server.pid()})")
    try:
        pid = service.ping()
    except service.ServiceUnavailable:
        try:
            pid = service.start()
        except service.ServiceUnavailable as why:
            raise Fatal(f"{why}; `course check` still works, without the warm service") from None
    click.echo(f"grading service: ready (pid {pid}); `course check` now skips the start-up costs")


@db.command("stop")
@global_options
def db_stop() -> None:
    """Stop the grading service and the shared server, and delete the server's data."""
    from course import service
    from course.postgres import embedded

    service.stop()
    stopped = embedded.stop(locations.servers_dir() / "persistent")
    click.echo("stopped the shared server" if stopped else "no shared server was running")


@db.command("url")
@click.pass_obj
@global_options
def db_url(obj: Context) -> None:
    """Print the admin URL of the shared server (start it first with `course db start`)."""
    from course.postgres import embedded

    server = embedded.running_persistent()
    if server is None:
        raise Fatal("no shared server is running; fix: run `course db start` first")
    click.echo(server.admin.sqlalchemy_url())


@main.command()
@click.argument("path", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--static", is_flag=True, help="Only the checks that need no Postgres (fast: run it on every save).")
@click.option("--mutate", is_flag=False, flag_value="", default=None, metavar="[EXERCISE]",
              help="Mutation-test the graders: grade generated mutants of each reference solution (or of EXERCISE's); "
                   "fails on a survivor not listed as equivalent.")
@click.option("--max-mutants", default=30, show_default=True, help="Generated mutants graded per exercise (with --mutate).")
@click.pass_obj
@global_options
def validate(obj: Context, path: Path | None, static: bool, mutate: str | None, max_mutants: int) -> None:
    """Check a content root (default: the built-in course): metadata, files, hints, quiz, and
    that solutions pass, starters fail, mutants are rejected, variants pass, lesson code runs."""
    from course.locations import builtin_content_root
    from course.validate import validate as run_validate
    from course.validate import validate_mutants

    root = (path or builtin_content_root()).resolve()
    if static and mutate is not None:
        raise Fatal("--static and --mutate exclude each other; fix: drop one")
    session = None if static else obj.database_session()
    from course.render import RunProgress

    try:
        with RunProgress("validating") as shown:  # a bar on a terminal, plain lines when piped
            if mutate is not None:
                problems, scores = validate_mutants(root, session, mutate or None, max_mutants, progress=shown.step)
            else:
                problems = run_validate(root, session, progress=shown.step)
        if mutate is not None:
            for score in scores:
                click.echo(f"mutation score {score}")
    finally:
        if session is not None:
            session.close()
    for problem in problems:
        click.echo(str(problem))
    if problems:
        click.echo(f"{len(problems)} problem(s) in {root}", err=True)
        sys.exit(EXIT_FAILED)
    click.echo(f"{root}: no problems found" + (" (static checks only)" if static else ""))


@main.command("new-module")
@click.argument("module_id", metavar="ID")
@click.option("--path", "path", type=click.Path(file_okay=False, path_type=Path), default=".", show_default=True,
              help="The content root to write it in (gets lessons/, exercises/, quizzes/).")
@global_options
def new_module(module_id: str, path: Path) -> None:
    """Scaffold a small, complete module ID that validates clean: edit it from there."""
    from course.scaffold import ScaffoldError
    from course.scaffold import new_module as scaffold

    try:
        files = scaffold(module_id, path.resolve())
    except ScaffoldError as error:
        raise Fatal(str(error)) from None
    click.echo(f"Wrote {len(files)} files under {path.resolve()}.")
    click.echo(f"Next: `course validate {path}` and `course --content {path} check {module_id}/01-first-model --solution`.")


class _GradeCommand(click.Command):
    """`course grade DIR...`, and `course grade merge PARTS...` (its one subcommand)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args[:1] == ["merge"]:
            ctx.meta["course.grade.merge"] = grade_merge.make_context(f"{ctx.info_name} merge", args[1:], parent=ctx.parent)
            return []
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context):
        merge = ctx.meta.pop("course.grade.merge", None)
        if merge is not None:
            with merge:
                return grade_merge.invoke(merge)
        return super().invoke(ctx)


@main.command(cls=_GradeCommand, epilog="Also: `course grade merge PARTS...` joins the results files of sharded runs (see its --help).")
@click.argument("workspaces", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write results as JSON here.")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False, path_type=Path), help="Write JUnit XML here.")
@click.option("--jobs", default=2, show_default=True, help="Submissions graded at once.")
@click.option("--exercise", "only", multiple=True, help="Grade only these exercises (repeatable).")
@click.option("--results", "results_path", type=click.Path(dir_okay=False, path_type=Path),
              help="JSON Lines file each result is written to as it arrives [default: next to --json, else ./grade-results.jsonl].")
@click.option("--resume", is_flag=True, help="Continue the run of --results: grade only what it does not hold yet.")
@click.option("--shard", metavar="K/N", help="Grade only the K-th of N shares of the submissions (by student; for a CI matrix).")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the class report (one HTML file) here.")
@click.option("--anonymise", is_flag=True, help="Students by stable pseudonym in the summary and the reports.")
@click.pass_obj
@global_options
def grade(obj: Context, workspaces: tuple[Path, ...], json_path: Path | None, junit_path: Path | None, jobs: int,
          only: tuple[str, ...], results_path: Path | None, resume: bool, shard: str | None,
          report_path: Path | None, anonymise: bool) -> None:
    """Instructors: grade many student workspaces, each in its own database and role.

    Results are written to a JSON Lines file as they arrive; a run that was stopped or killed
    is continued with the same command plus --resume."""
    from checker.launch import class_confinement
    from checker.sandbox import confinement_summary
    from course.classgrade import ResultsLog, default_results_path, grade_workspaces
    from course.grading import GradingSession
    from course.postgres.base import BackendError
    from course.postgres.session import open_session

    exercises = [obj.exercise(q) for q in only] if only else [e for m in obj.modules for e in m.exercises]
    if shard is not None:
        from course.classgrade import parse_shard, select_shard

        index, count = parse_shard(shard)
        chosen = select_shard(list(workspaces), index, count)
        click.echo(f"course grade: shard {index}/{count}: {len(chosen)} of {len(workspaces)} submission(s)", err=True)
        workspaces = tuple(chosen)
    results_path = results_path or default_results_path(json_path)
    for option, report in (("--json", json_path), ("--junit", junit_path), ("--report", report_path)):
        if report is not None and report.resolve() == results_path.resolve():
            raise Fatal(f"{option} and --results both name {report}; fix: give the results file another name")
    from course.render import RunProgress

    class ShownResults(ResultsLog):
        """The results file, each result also a step of the progress display."""

        shown: RunProgress | None = None

        def write(self, workspace: Path, exercise, digest: str, result) -> None:
            super().write(workspace, exercise, digest, result)
            if self.shown is not None:
                self.shown.step(f"{workspace.name} {exercise.id} {result.status}")

    log = ShownResults(results_path, resume=resume)  # refuses an earlier run's file unless --resume
    pairs = len(workspaces) * len(exercises)
    confinement = class_confinement([*workspaces, locations.state_dir(), locations.servers_dir(), results_path.parent])
    click.echo(f"course grade: {confinement_summary(confinement)}", err=True)
    try:
        grading = GradingSession.start(
            lambda: open_session(obj.backend, obj.database_url, isolate=True, spares=max(1, jobs)),
            confinement=confinement, clean_environment=True,
        )
    except BackendError as error:
        log.close()
        raise Fatal(str(error)) from None
    again = f"continue with the same command and --resume (results so far are in {results_path})"
    try:
        with grading, RunProgress("grading", max(0, pairs - len(log.finished))) as shown:
            log.shown = shown
            submissions = grade_workspaces(list(workspaces), exercises, grading.databases, grading.launcher, jobs, log=log)
    except BackendError as error:
        raise Fatal(f"{error}; then {again}") from None
    except KeyboardInterrupt:
        click.echo(f"\ncourse grade: interrupted; {again}", err=True)
        raise
    finally:
        log.close()
    if resume:
        click.echo(f"course grade: resumed {results_path}: {log.resumed} of {pairs} results were already there", err=True)
    _class_reports(submissions, exercises, json_path, junit_path, report_path, anonymise,
                   "pick a writable path, then rerun with --resume (nothing is graded again)")


def _class_reports(submissions, exercises, json_path, junit_path, report_path, anonymise: bool, fix: str) -> None:
    """The summary and the report files of a class run, then its exit code."""
    from course.classgrade import print_summary, write_reports

    if anonymise:
        from course.report import anonymise as pseudonymise

        submissions = pseudonymise(submissions)
    print_summary(submissions, exercises)
    try:
        write_reports(submissions, json_path, junit_path)
        if report_path is not None:
            from course.report import write as write_report

            write_report(submissions, report_path)
    except OSError as error:
        raise Fatal(f"cannot write a report ({error}); fix: {fix}") from None
    sys.exit(0 if all(r.passed for s in submissions for r in s.results) else EXIT_FAILED)


@click.command("merge")
@click.argument("parts", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the merged results as JSON here.")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the merged JUnit XML here.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the class report (one HTML file) here.")
@click.option("--anonymise", is_flag=True, help="Students by stable pseudonym in the summary and the reports.")
@click.pass_obj
@global_options
def grade_merge(obj: Context, parts: tuple[Path, ...], json_path: Path | None, junit_path: Path | None,
                report_path: Path | None, anonymise: bool) -> None:
    """Join the results files (JSON Lines) of `course grade --shard K/N` runs into one set of reports.

    The JSON and JUnit XML are those one unsharded run would write (timings and graded_at aside)."""
    from course.classgrade import merge_parts

    order = [e.full_id for m in obj.modules for e in m.exercises]
    submissions = merge_parts(list(parts), order)
    if not submissions:
        raise Fatal("the parts hold no results; fix: merge the results files (--results) of `course grade --shard K/N` runs that graded")
    click.echo(f"course grade merge: {len(submissions)} submission(s) from {len(parts)} part(s)", err=True)
    _class_reports(submissions, [r.exercise for r in submissions[0].results], json_path, junit_path, report_path,
                   anonymise, "pick a writable path and merge again")


@main.group()
def export() -> None:
    """Instructors: package the course for an autograding platform."""


@export.command("gradescope")
@click.argument("only", nargs=-1, metavar="[EXERCISE]...")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default="autograder.zip", show_default=True,
              help="The autograder zip to upload to Gradescope.")
@click.option("--pip-spec", metavar="SPEC", help="What setup.sh installs [default: course==this version], e.g. a git URL.")
@click.option("--visibility", type=click.Choice(["visible", "after_due_date", "after_published", "hidden"]), default="visible",
              show_default=True, help="When students see the tests' results.")
@click.pass_obj
@global_options
def export_gradescope(obj: Context, only: tuple[str, ...], output: Path, pip_spec: str | None, visibility: str) -> None:
    """A Gradescope autograder for EXERCISE... (default: every exercise): setup.sh and run_autograder."""
    from course import gradescope
    from course.content import content_roots

    exercises = [obj.exercise(q) for q in only] if only else [e for m in obj.modules for e in m.exercises]
    builtin = {content_roots([])[0].resolve()}
    extra = list(dict.fromkeys(e.path.parents[2].resolve() for e in exercises if e.path.parents[2].resolve() not in builtin))
    names = gradescope.build(exercises, output, pip_spec=pip_spec, visibility=visibility, content_roots=extra)
    points = sum(c for e in exercises for c in gradescope.weights_of(e).values())
    click.echo(f"Wrote {output}: {len(names)} files, {len(exercises)} exercise(s), {points:g} points. "
               "Upload it as the assignment's autograder (Ubuntu image).")


@export.command("classroom")
@click.argument("only", nargs=-1, metavar="[EXERCISE]...")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default="classroom-template", show_default=True,
              help="The folder to write the template repository in (new or empty).")
@click.option("--pip-spec", metavar="SPEC", help="What the workflow installs [default: course==this version], e.g. a git URL.")
@click.pass_obj
@global_options
def export_classroom(obj: Context, only: tuple[str, ...], output: Path, pip_spec: str | None) -> None:
    """A GitHub Classroom template repository for EXERCISE... (default: every exercise)."""
    from course import classroom

    exercises = [obj.exercise(q) for q in only] if only else [e for m in obj.modules for e in m.exercises]
    written = classroom.build(exercises, output, pip_spec=pip_spec)
    click.echo(f"Wrote {output}: {len(written)} files, {len(exercises)} exercise(s). Push it to GitHub, mark it a "
               "template repository, and use it as the Classroom assignment's starter code.")


@main.command()
@click.pass_obj
@global_options
def doctor(obj: Context) -> None:
    """Which backend would be used and why, versions, workspace health, file watching."""
    from course.doctor import run_doctor

    sys.exit(run_doctor(obj))


def run(argv: list[str] | None = None) -> None:
    """The console entry point: click, plus a quiet exit 130 on Ctrl-C (cleanup runs in finally
    blocks on the way out: the child is killed, databases dropped, the server stopped)."""
    if sys.platform == "win32":  # a piped Windows console writes its code page: ✓ and ✗ would not print
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(AttributeError, ValueError):
                stream.reconfigure(encoding="utf-8")
    try:
        result = main.main(args=argv, prog_name="course", standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("\ncourse: interrupted; nothing was left running", err=True)
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except CourseError as error:  # configuration, environment or content: one line, no traceback
        click.echo(f"course: error: {error}", err=True)
        sys.exit(EXIT_USAGE)
    except click.exceptions.Exit as error:
        sys.exit(error.exit_code)
    sys.exit(result if isinstance(result, int) else 0)


if __name__ == "__main__":
    run()
