"""The Postgres server's commands (`course db ...`) and `course doctor`."""

from __future__ import annotations

import sys

import click

from course import locations
from course.cli.base import Context, Fatal, global_options, main


@main.group()
def db() -> None:
    """The throwaway Postgres server: status, start, stop, url."""


@db.command("status")
@click.pass_obj
@global_options
def db_status(obj: Context) -> None:
    """Say whether the shared server and the grading service are running."""
    from course.grading import service
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
    from course.grading import service
    from course.postgres import embedded

    server = embedded.running_persistent()
    if server is None:
        server = embedded.start(persistent=True)
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
    from course.grading import service
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
@click.pass_obj
@global_options
def doctor(obj: Context) -> None:
    """Which backend would be used and why, versions, workspace health, file watching."""
    from course.cli.doctor import run_doctor

    sys.exit(run_doctor(obj))
