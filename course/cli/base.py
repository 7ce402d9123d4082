"""The click group, its global options and the context every command gets (workspace, content, Postgres)."""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from course.content.model import Module

from course import __version__, locations

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
        _warn_if_password_in_argv(database_url)
        self.content = content
        self._modules: list[Module] | None = None

    def apply(self, name: str, value) -> None:
        """A global option given after the command name: it wins over the same one given before."""
        if name == "workspace":
            self.workspace_path = locations.workspace_dir(value)
        elif name == "content":
            self.content = (*self.content, *value)
            self._modules = None
        else:
            if name == "database_url":
                _warn_if_password_in_argv(value)
            setattr(self, name, value)

    @property
    def modules(self):
        if self._modules is None:
            from course.content.model import content_roots, load_content

            self._modules, problems = load_content(content_roots(self.content))
            for problem in problems:
                what = "" if getattr(problem, "shadowed", False) else "skipping broken content: "
                click.echo(f"course: warning: {what}{problem}", err=True)
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
            from course.learner.workspace import Workspace

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
        from course.content.model import ExerciseNotFound, Section

        try:
            found = find(self.modules, query)
        except ExerciseNotFound as error:
            raise Fatal(str(error)) from None
        if isinstance(found, Section):
            raise Fatal(
                f"{found.id} is a quiz-only section with nothing to check; fix: run `course quiz --section {found.number}`"
            )
        return found

    def workspace(self, *, create: bool = True):
        from course.learner.workspace import Workspace

        workspace = Workspace(self.workspace_path)
        if create:
            new = not workspace.exists
            workspace.init(self.modules)  # also brings starters of newly added content; never overwrites
            if new:
                click.echo(f"Created your workspace at {workspace.root}", err=True)
        return workspace

    def database_session(self, spares: int = 1):

        try:
            return self.database_session_opener(spares)()
        except OSError as error:
            from course.errors import postgres_environment_error

            raise Fatal(postgres_environment_error(error)) from None

    def database_session_opener(self, spares: int = 1):
        """A function that opens a database session (raises BackendError) — for workers."""
        from course.postgres.session import open_session

        return lambda: open_session(self.backend, self.database_url, spares=spares)


def find(modules, query):
    """An exercise (or quiz-only section) by id, short form, or section number (``5`` for §5)."""
    from course.content.model import ExerciseNotFound, find_exercise

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
        from course.content.model import ExerciseNotFound

        names = ", ".join(e.id for e in section.exercises)
        raise ExerciseNotFound(f"section {query} has several exercises ({names}); fix: give one of their ids")
    return section.exercises[0] if section.exercises else section


def _warn_if_password_in_argv(url: str | None) -> None:
    """A password given as ``--database-url`` sits in this process's command line, which every user (and
    every graded submission) on the machine can read; the environment variable is private to us."""
    from urllib.parse import urlsplit

    try:
        password = urlsplit(url).password if url else None
    except ValueError:  # not a URL at all: the backend says so when it is used
        return
    if password:
        click.echo(
            "course: warning: the password in --database-url can be read by every process on this machine "
            "(ps, /proc); fix: pass the URL in COURSE_DATABASE_URL instead",
            err=True,
        )


def first_sentence(text: str) -> str:
    """A command's help up to the end of its first sentence, whole ("e.g." and "i.e." end none)."""
    import inspect
    import re

    paragraph = " ".join(inspect.cleandoc(text).split("\n\n")[0].split())
    end = re.search(r"(?<!e\.g)(?<!i\.e)\.(\s|$)", paragraph)
    return paragraph[: end.start() + 1] if end else paragraph


class CourseGroup(click.Group):
    """Lists each command with its first sentence whole, wrapped (click's own listing cuts it at
    the width left and at the first "e.g.": "Grade EXERCISE (e.g.")."""

    group_class = type  # the subgroups (db, grade, export) list their commands the same way

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.short_help or first_sentence(command.help or "")))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _terminate_cleanly(signum, frame):  # pragma: no cover - exercised through subprocess tests
    raise SystemExit(128 + signum)


def _global_options(**extra):
    """The options of every command, as decorators; ``extra`` is passed to each ``click.option``."""
    return [
        click.option(
            "--workspace", metavar="DIR", help="Workspace folder (default ./course-work, or COURSE_WORKSPACE).", **extra
        ),
        click.option(
            "--backend", type=click.Choice(["embedded", "docker", "url"]), help="Postgres backend (or COURSE_BACKEND).", **extra
        ),
        click.option(
            "--database-url", metavar="URL", help="Existing server for the url backend (or COURSE_DATABASE_URL).", **extra
        ),
        click.option(
            "--content",
            metavar="DIR",
            multiple=True,
            help="An extra content root (lessons/, exercises/, quizzes/); or COURSE_PATH.",
            **extra,
        ),
    ]


def _merge_global_option(ctx: click.Context, param: click.Parameter, value) -> None:
    if value not in (None, ()):
        context = ctx.find_object(Context)
        # main() sets ctx.obj before click parses the subcommand's options, whose callback this is.
        assert context is not None, "global option parsed outside the `course` group"
        context.apply(param.name, value)


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


@click.group(cls=CourseGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="course")
@_with_options(_global_options())
@click.pass_context
def main(
    ctx: click.Context, workspace: str | None, backend: str | None, database_url: str | None, content: tuple[str, ...]
) -> None:
    """A course on SQLAlchemy 2.0, Alembic and FastAPI persistence, graded against a throwaway Postgres.

    Start with `course start`. Exercises live in your workspace; grade one with `course check 05`.
    """
    signal.signal(signal.SIGTERM, _terminate_cleanly)
    ctx.obj = Context(workspace, backend, database_url, content)
