"""The instructor's commands: validate, new-module, grade (and grade merge), export."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from course import locations
from course.cli.base import EXIT_FAILED, Context, Fatal, global_options, main


class _ValidateCommand(click.Command):
    """``--mutate=EXERCISE`` (the old spelling) read as ``--mutate EXERCISE``: ``--mutate`` is a
    flag, and PATH and EXERCISE are told apart by what they name, in any order."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        spread: list[str] = []
        for arg in args:
            if arg.startswith("--mutate="):
                spread += ["--mutate", arg.split("=", 1)[1]]
            else:
                spread.append(arg)
        return super().parse_args(ctx, spread)


def _path_and_query(targets: tuple[str, ...]) -> tuple[Path | None, str | None]:
    """``[PATH] [EXERCISE]`` in any order: a folder is the content root, anything else the module
    or exercise to validate alone."""
    paths = [t for t in targets if Path(t).expanduser().is_dir()]
    others = [t for t in targets if t not in paths]
    if len(targets) > 2 or len(paths) > 1 or len(others) > 1:
        raise Fatal(
            f"course validate takes one content folder and one module or exercise, got {' '.join(targets)}; "
            "fix: e.g. `course validate my-content --mutate 02`"
        )
    return (Path(paths[0]).expanduser() if paths else None), (others[0] if others else None)


@main.command(cls=_ValidateCommand)
@click.argument("targets", nargs=-1, metavar="[PATH] [EXERCISE]")
@click.option("--static", is_flag=True, help="Only the checks that need no Postgres (fast: run it on every save).")
@click.option(
    "--mutate",
    is_flag=True,
    help="Also mutation-test the graders: grade generated mutants of each reference solution (or of EXERCISE's); "
    "fails on a survivor not listed as equivalent.",
)
@click.option("--max-mutants", default=30, show_default=True, help="Generated mutants graded per exercise (with --mutate).")
@click.option(
    "-v", "--verbose", is_flag=True, help="Print the kill matrix: which check killed each mutant, which survived and why."
)
@click.pass_obj
@global_options
def validate(obj: Context, targets: tuple[str, ...], static: bool, mutate: bool, max_mutants: int, verbose: bool) -> None:
    """Check a content root PATH (default: the built-in course), or only its module or EXERCISE:
    metadata and schemas, files, hints, quiz, and that solutions pass, starters fail, mutants are
    rejected, variants pass, lesson code runs. With --mutate, the graders are mutation-tested too."""
    from course.grading.validation import Kill, validate_mutants
    from course.grading.validation import validate as run_validate
    from course.locations import builtin_content_root

    path, query = _path_and_query(targets)
    root = (path or builtin_content_root()).resolve()
    if static and mutate:
        raise Fatal("--static and --mutate exclude each other; fix: drop one")
    from course.grading.session import GradingSession
    from course.render import RunProgress

    grading = None if static else GradingSession.start(obj.database_session)
    matrix: list[Kill] = []
    scores: list = []
    try:
        with RunProgress("validating") as shown:  # a bar on a terminal, plain lines when piped
            if mutate:
                assert grading is not None  # --mutate excludes --static
                problems, scores = validate_mutants(root, grading, query, max_mutants, progress=shown.step, matrix=matrix)
            else:
                problems = run_validate(root, grading, progress=shown.step, query=query, matrix=matrix)
    finally:
        if grading is not None:
            grading.close()
    if verbose and matrix:
        click.echo("kill matrix (mutant: verdict by the checks that failed on it):")
        for kill in matrix:
            click.echo(f"  {kill}")
    for score in scores:
        click.echo(f"mutation score {score}")
    from course.content.validate import failing, merged

    problems = merged(problems)
    for problem in problems:
        click.echo(str(problem))
    scope = f"{root}{f' ({query})' if query else ''}"
    if failing(problems):
        click.echo(f"{len(failing(problems))} problem(s) in {scope}", err=True)
        sys.exit(EXIT_FAILED)
    warned = len(problems)
    click.echo(
        f"{scope}: no problems found" + (f", {warned} warning(s)" if warned else "") + (" (static checks only)" if static else "")
    )


@main.command("new-module")
@click.argument("module_id", metavar="ID")
@click.option(
    "--path",
    "path",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    show_default=True,
    help="The content root to write it in (gets lessons/, exercises/, quizzes/).",
)
@global_options
def new_module(module_id: str, path: Path) -> None:
    """Scaffold a small, complete module ID that validates clean: edit it from there."""
    from course.content.scaffold import new_module as scaffold

    files = scaffold(module_id, path.resolve())
    click.echo(f"Wrote {len(files)} files under {path.resolve()}.")
    click.echo(
        f"Next: `course validate {path} --mutate -v` and `course --content {path} check {module_id}/01-first-model --solution`."
    )


def _class_report_options(command):
    """--report, --csv and --anonymise: the same for a run and for a merge of its shards."""
    command = click.option(
        "--anonymise",
        is_flag=True,
        help="Students by stable pseudonym in the summary and the reports (docs/ci/README.md says what it does not promise).",
    )(command)
    command = click.option(
        "--csv-id",
        type=click.Choice(["SIS Login ID", "SIS User ID", "ID"]),
        default="SIS Login ID",
        show_default=True,
        help="The grade sheet's column the students' folder names fill (what your LMS matches them on).",
    )(command)
    command = click.option(
        "--csv",
        "csv_path",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Write the grade sheet here: one row per student, points in total and per exercise (Canvas/Moodle CSV import).",
    )(command)
    return click.option(
        "--report",
        "report_path",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Write the class report (one HTML file) here.",
    )(command)


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


@main.command(
    cls=_GradeCommand, epilog="Also: `course grade merge PARTS...` joins the results files of sharded runs (see its --help)."
)
@click.argument("workspaces", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write results as JSON here.")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False, path_type=Path), help="Write JUnit XML here.")
@click.option("--jobs", default=2, show_default=True, help="Submissions graded at once.")
@click.option("--exercise", "only", multiple=True, help="Grade only these exercises (repeatable).")
@click.option(
    "--results",
    "results_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON Lines file each result is written to as it arrives [default: next to --json, else ./grade-results.jsonl].",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the run of --results: grade only what it does not hold yet [default when the file is the same class's].",
)
@click.option("--fresh", is_flag=True, help="Start over: replace the results file of an earlier run.")
@click.option(
    "--starter-baseline",
    "baseline_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The checks each starter passes, as an export recorded them [default: grade the starters once, cached].",
)
@click.option("--shard", metavar="K/N", help="Grade only the K-th of N shares of the submissions (by student; for a CI matrix).")
@_class_report_options
@click.pass_obj
@global_options
def grade(
    obj: Context,
    workspaces: tuple[Path, ...],
    json_path: Path | None,
    junit_path: Path | None,
    jobs: int,
    only: tuple[str, ...],
    results_path: Path | None,
    resume: bool,
    fresh: bool,
    baseline_path: Path | None,
    shard: str | None,
    report_path: Path | None,
    csv_path: Path | None,
    csv_id: str,
    anonymise: bool,
) -> None:
    """Instructors: grade many student workspaces, each in its own database and role.

    Points: each check is worth its [weights] entry in exercise.toml (default 1); the checks
    the untouched starter passes are worth 0 (the starters are graded once, then cached).
    Results are written to a JSON Lines file as they arrive; run the same command again to
    continue a run that was stopped (only what changed is graded again)."""
    from checker.process.launch import class_confinement
    from checker.process.sandbox import confinement_summary
    from course.grading.classgrade import ResultsLog, default_results_path, fingerprint, grade_workspaces, untouched_in
    from course.grading.session import GradingSession
    from course.postgres.base import BackendError
    from course.postgres.session import open_session

    exercises = [obj.exercise(q) for q in only] if only else [e for m in obj.modules for e in m.exercises]
    results_path = results_path or default_results_path(json_path)
    given = workspaces
    notes = []
    # Bad input first, each a one-line error before the run starts.
    if shard is not None:
        from course.grading.classgrade import parse_shard, select_shard

        index, count = parse_shard(shard)
        chosen = select_shard(list(workspaces), index, count)
        notes.append(f"shard {index}/{count}: {len(chosen)} of {len(workspaces)} submission(s)")
        workspaces = tuple(chosen)
    for option, report in (("--json", json_path), ("--junit", junit_path), ("--report", report_path), ("--csv", csv_path)):
        if report is not None and report.resolve() == results_path.resolve():
            raise Fatal(f"{option} and --results both name {report}; fix: give the results file another name")
    from course.grading import points

    worth = points.worth_for(exercises, {})  # a bad [weights] stops the run before anything is graded
    resume, note = _resume_or_fresh(results_path, workspaces, resume, fresh)
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
    # the run's first line says which isolation is in force (probed; docs/security.md); every
    # submission given, of every shard, is out of the others' sight
    confinement = class_confinement([*given, locations.state_dir(), locations.servers_dir(), results_path.parent])
    click.echo(f"course grade: {confinement_summary(confinement)}", err=True)
    for line in [*notes, *([note] if note else [])]:
        click.echo(f"course grade: {line}", err=True)
    try:
        grading = GradingSession.start(
            lambda: open_session(obj.backend, obj.database_url, isolate=True, spares=max(1, jobs)),
            confinement=confinement,
            clean_environment=True,
            # the portable way: interpreters started ahead for the submissions' runs (and the starters')
            queued=[*(str(w.resolve()) for w in workspaces for _ in exercises), *[None] * len(exercises)],
            parallel=jobs,
            exercises=exercises,
        )
    except BackendError as error:
        log.close()
        raise Fatal(str(error)) from None
    again = f"continue with the same command, or with --resume (results so far are in {results_path})"
    try:
        with grading:
            if baseline_path is not None:
                baseline = points.read_baseline(baseline_path)
            else:
                from course.grading.session import job_for

                baseline = points.starter_baseline(
                    exercises,
                    lambda exercise, folder: grading.grade(job_for(exercise, folder)),
                    cache=locations.state_dir() / points.BASELINE_CACHE,
                    jobs=jobs,
                )
            worth = points.worth_for(exercises, baseline)
            log.worth = worth
            log.starter_prints = {e.full_id: fingerprint(e.starter_dir, e) for e in exercises}
            free = sum(1 for e in exercises for name in baseline.get(e.full_id, ()) if name in worth[e.full_id])
            if free:
                click.echo(f"course grade: {free} check(s) the untouched starters pass are worth 0 points", err=True)
            with RunProgress("grading", max(0, pairs - len(log.finished))) as shown:
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
    _class_reports(
        submissions,
        exercises,
        worth,
        untouched_in([results_path]),
        (json_path, junit_path, report_path, csv_path, csv_id),
        anonymise,
        "pick a writable path, then run the same command again (nothing is graded again)",
    )


def _resume_or_fresh(results_path: Path, workspaces, resume: bool, fresh: bool) -> tuple[bool, str]:
    """Whether this run continues the results file's earlier run, and what to say of it.
    Continuing is always correct (a submission or check that changed is graded again), so it
    is the default for the same class: the file holds results of only the submissions given now
    (a run stopped halfway), or of all of them and more (some students graded again). A file of
    other submissions is refused (never overwritten) unless --fresh."""
    from course.grading.classgrade import ResultsFileError, earlier_workspaces

    if resume and fresh:
        raise Fatal("--resume and --fresh exclude each other; fix: drop one")
    if resume or results_path.is_dir() or not results_path.exists():
        return resume, ""
    try:
        earlier = earlier_workspaces(results_path)
    except ResultsFileError:
        return False, ""  # not a results file: ResultsLog refuses it, untouched
    if not earlier:
        return False, ""
    if fresh:
        results_path.unlink()
        return False, f"--fresh: replaced {results_path} ({len(earlier)} submission(s) of an earlier run)"
    given = {str(path.resolve()) for path in workspaces}
    if earlier <= given or given <= earlier:  # the same class: stopped halfway, extended, or some of it again
        return True, (
            f"{results_path} holds an earlier run of these submissions: continuing it "
            "(what changed since is graded again; --fresh starts over)"
        )
    others = len(earlier - given)
    raise Fatal(
        f"{results_path} already holds results of an earlier run ({others} submission(s) not given now); "
        "fix: add --resume to continue that run, --fresh to replace it, or pick another file with --results"
    )


def _class_reports(submissions, exercises, worth, untouched, paths, anonymise: bool, fix: str) -> None:
    """The summary and the report files of a class run, then its exit code (``untouched``: the
    (workspace, exercise) pairs not attempted)."""
    from course.grading.classgrade import print_summary, to_csv, write_reports

    json_path, junit_path, report_path, csv_path, csv_id = paths
    attempted = [{r.exercise for r in s.results if (str(s.workspace), r.exercise) not in untouched} for s in submissions]
    if anonymise:
        from course.grading.report import anonymise as pseudonymise

        submissions = pseudonymise(submissions)
    print_summary(submissions, exercises, worth)
    ids = [e if isinstance(e, str) else e.full_id for e in exercises]
    try:
        write_reports(submissions, json_path, junit_path, worth, attempted)
        if csv_path is not None:
            title = "course" if len(ids) != 1 else ids[0].rsplit("/", 1)[-1]
            csv_path.write_text(to_csv(submissions, worth, ids, title, csv_id), encoding="utf-8")
        if report_path is not None:
            from course.grading.report import write as write_report

            write_report(submissions, report_path, worth, attempted)
    except OSError as error:
        raise Fatal(f"cannot write a report ({error}); fix: {fix}") from None
    sys.exit(0 if all(r.passed for s in submissions for r in s.results) else EXIT_FAILED)


@click.command("merge")
@click.argument("parts", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o", "--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the merged results as JSON here."
)
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the merged JUnit XML here.")
@_class_report_options
@click.pass_obj
@global_options
def grade_merge(
    obj: Context,
    parts: tuple[Path, ...],
    json_path: Path | None,
    junit_path: Path | None,
    report_path: Path | None,
    csv_path: Path | None,
    csv_id: str,
    anonymise: bool,
) -> None:
    """Join the results files (JSON Lines) of `course grade --shard K/N` runs into one set of reports.

    The JSON, JUnit XML and CSV are those one unsharded run would write (timings and graded_at
    aside): the points are those the runs recorded."""
    from course.grading.classgrade import merge_parts, untouched_in, worth_in

    order = [e.full_id for m in obj.modules for e in m.exercises]
    submissions = merge_parts(list(parts), order)
    if not submissions:
        raise Fatal(
            "the parts hold no results; fix: merge the results files (--results) of `course grade --shard K/N` runs that graded"
        )
    click.echo(f"course grade merge: {len(submissions)} submission(s) from {len(parts)} part(s)", err=True)
    exercises = [r.exercise for r in submissions[0].results]
    worth = worth_in(list(parts))
    unknown = [e for e in exercises if e not in worth]
    if unknown:  # results files written before points were recorded: weights, no starter baseline
        from course.grading import points

        content = {e.full_id: e for m in obj.modules for e in m.exercises}
        worth.update(points.worth_for([content[e] for e in unknown if e in content], {}))
        click.echo(
            f"course grade merge: {len(unknown)} exercise(s) carry no points in these parts: "
            "their checks count at their weights (starter-passed checks are not zeroed)",
            err=True,
        )
    _class_reports(
        submissions,
        exercises,
        worth,
        untouched_in(list(parts)),
        (json_path, junit_path, report_path, csv_path, csv_id),
        anonymise,
        "pick a writable path and merge again",
    )


@main.group()
def export() -> None:
    """Instructors: package the course for an autograding platform.

    Each export carries the running version's wheel: nothing is installed by the name `course`
    from an index. Points: docs/ci/README.md."""


def _exercises(obj: Context, only: tuple[str, ...]) -> list:
    return [obj.exercise(q) for q in only] if only else [e for m in obj.modules for e in m.exercises]


def _extra_content(exercises) -> list[Path]:
    """The content roots of ``exercises`` that are not the built-in one (an export carries them)."""
    from course.content.model import content_roots

    builtin = {content_roots([])[0].resolve()}
    return list(dict.fromkeys(e.path.parents[2].resolve() for e in exercises if e.path.parents[2].resolve() not in builtin))


def _export_baseline(obj: Context, exercises):
    """The checks each starter passes (worth 0 points), graded here once (cached) so that the
    autograder does not grade the starters again for every submission."""
    from course.grading import points
    from course.grading.session import GradingSession, job_for
    from course.postgres.base import BackendError
    from course.postgres.session import open_session

    points.worth_for(exercises, {})  # a bad [weights] is refused before Postgres starts
    click.echo(f"Grading the {len(exercises)} starter(s) once: the checks they pass are worth 0 points.", err=True)
    try:
        grading = GradingSession.start(lambda: open_session(obj.backend, obj.database_url, isolate=True, spares=1))
    except BackendError as error:
        raise Fatal(str(error)) from None
    with grading:
        return points.starter_baseline(
            exercises,
            lambda exercise, folder: grading.grade(job_for(exercise, folder)),
            cache=locations.state_dir() / points.BASELINE_CACHE,
        )


_PIP_SPEC = click.option(
    "--pip-spec",
    metavar="SPEC",
    help="Install course with `pip install SPEC` instead of from the wheel the export carries (e.g. a git URL you control).",
)


@export.command("gradescope", short_help="A Gradescope autograder zip, the course wheel inside.")
@click.argument("only", nargs=-1, metavar="[EXERCISE]...")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default="autograder.zip",
    show_default=True,
    help="The autograder zip to upload to Gradescope.",
)
@_PIP_SPEC
@click.option(
    "--visibility",
    type=click.Choice(["visible", "after_due_date", "after_published", "hidden"]),
    default="visible",
    show_default=True,
    help="When students see a check's result, unless [visibility] in its exercise.toml says otherwise.",
)
@click.pass_obj
@global_options
def export_gradescope(obj: Context, only: tuple[str, ...], output: Path, pip_spec: str | None, visibility: str) -> None:
    """A Gradescope autograder for EXERCISE... (default: every exercise): setup.sh, run_autograder,
    the course wheel and its dependencies' lock."""
    from course.grading import gradescope

    exercises = _exercises(obj, only)
    baseline = _export_baseline(obj, exercises)
    names = gradescope.build(
        exercises, output, baseline=baseline, pip_spec=pip_spec, visibility=visibility, content_roots=_extra_content(exercises)
    )
    config = gradescope.config_of(exercises, baseline, visibility)
    total = sum(c["worth"] for e in config["exercises"] for c in e["checks"])
    click.echo(
        f"Wrote {output}: {len(names)} files, {len(exercises)} exercise(s), {total:g} points. "
        "Upload it as the assignment's autograder (Ubuntu image)."
    )


@export.command("actions", short_help="A template repository graded by plain GitHub Actions.")
@click.argument("only", nargs=-1, metavar="[EXERCISE]...")
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default="assignment-template",
    show_default=True,
    help="The folder to write the template repository in (new or empty).",
)
@_PIP_SPEC
@click.pass_obj
@global_options
def export_actions(obj: Context, only: tuple[str, ...], output: Path, pip_spec: str | None) -> None:
    """A template repository graded by GitHub Actions for EXERCISE... (default: every exercise):
    JUnit, points in the job summary; no GitHub Classroom needed."""
    from course.grading import actions

    exercises = _exercises(obj, only)
    actions.ensure_empty(output)
    baseline = _export_baseline(obj, exercises)
    written = actions.build(exercises, output, baseline=baseline, pip_spec=pip_spec)
    click.echo(
        f"Wrote {output}: {len(written)} files, {len(exercises)} exercise(s). Push it to GitHub and mark it a "
        "template repository: each student's copy is graded on every push (Actions tab, job summary)."
    )


@export.command("classroom", short_help="The same as `export actions` (GitHub Classroom was sunset).")
@click.argument("only", nargs=-1, metavar="[EXERCISE]...")
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default="classroom-template",
    show_default=True,
    help="The folder to write the template repository in (new or empty).",
)
@_PIP_SPEC
@click.pass_context
@global_options
def export_classroom(ctx: click.Context, only: tuple[str, ...], output: Path, pip_spec: str | None) -> None:
    """The same template as `course export actions` (GitHub Classroom was sunset; its template
    repositories still work as plain GitHub templates)."""
    click.echo("course export classroom is `course export actions`: the same template, graded by plain GitHub Actions.", err=True)
    ctx.invoke(export_actions, only=only, output=output, pip_spec=pip_spec)


@export.command("prairielearn", short_help="PrairieLearn external-grader questions and their image.")
@click.argument("only", nargs=-1, metavar="[EXERCISE]...")
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default="prairielearn",
    show_default=True,
    help="The folder to write into (new or empty): the grader image's Dockerfile, serverFilesCourse/ and questions/.",
)
@click.option(
    "--image",
    default="your-org/course-grader",
    show_default=True,
    help="The Docker image name the questions' info.json use (build and push the Dockerfile under that name).",
)
@_PIP_SPEC
@click.pass_obj
@global_options
def export_prairielearn(obj: Context, only: tuple[str, ...], output: Path, image: str, pip_spec: str | None) -> None:
    """PrairieLearn external-grader questions for EXERCISE... (default: every exercise): a grader
    image (Dockerfile with the course wheel), its entrypoint in serverFilesCourse/, a question each."""
    from course.grading import actions, prairielearn

    exercises = _exercises(obj, only)
    actions.ensure_empty(output)
    baseline = _export_baseline(obj, exercises)
    written = prairielearn.build(
        exercises, output, baseline=baseline, image=image, pip_spec=pip_spec, content_roots=_extra_content(exercises)
    )
    click.echo(
        f"Wrote {output}: {len(written)} files, {len(exercises)} question(s). Build and push the image "
        f"(docker build -t {image} {output / 'image'}), then copy serverFilesCourse/ and questions/ into your course."
    )
