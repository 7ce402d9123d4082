"""The ``course`` command line: a thin click group over content, workspace, Postgres and checker.

Heavy imports (SQLAlchemy, rich, Textual) happen inside commands, so ``course --help`` is instant.
Exit codes: 0 all checks passed; 1 a check failed; 2 usage, configuration or environment error.
"""

from __future__ import annotations

import contextlib
import signal
import sys


def _interrupt_where_python_can_raise_it(unraisable) -> None:
    """A Ctrl-C that lands in a callback Python cannot raise from (an import lock's weakref
    callback, a finaliser) would print "Exception ignored ... KeyboardInterrupt" with a traceback
    and then be lost: send it again, to be raised where the command handles it (one line, 130)."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
        import _thread
        import threading
        import time

        def again() -> None:
            time.sleep(0.02)  # past this hook's return: raised here, it would be ignored again
            _thread.interrupt_main()

        with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C meanwhile: lost like the first
            threading.Thread(target=again, daemon=True).start()
        return
    sys.__unraisablehook__(unraisable)


sys.unraisablehook = _interrupt_where_python_can_raise_it

try:  # a Ctrl-C while the command starts up ends it as one later does: one line, exit 130
    import click

    from checker.process import platform
    from course.cli import instructor, learner, server  # noqa: F401 - importing them registers their commands on `main`
    from course.cli.base import EXIT_USAGE, main
    from course.errors import CourseError
except KeyboardInterrupt:
    sys.stderr.write("\ncourse: interrupted; nothing was left running\n")
    raise SystemExit(130) from None


def run(argv: list[str] | None = None) -> None:
    """The console entry point: click, plus a quiet exit 130 on Ctrl-C (cleanup runs in finally
    blocks on the way out: the child is killed, databases dropped, the server stopped)."""
    if sys.platform == "win32":  # a piped Windows console writes its code page: ✓ and ✗ would not print
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(AttributeError, ValueError):
                stream.reconfigure(encoding="utf-8")
    for interrupt in platform.interrupt_signals():  # Ctrl-Break in a Windows console: as Ctrl-C
        if interrupt != signal.SIGINT:
            signal.signal(interrupt, signal.default_int_handler)
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
