"""Ctrl-C: the key a terminal user presses to leave — in the app, and while `course` starts up."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from course.tui.app import CourseApp


def test_ctrl_c_quits_the_app_and_stops_its_server(module, workspace):
    from course.postgres.session import open_session

    from conftest import postgres_processes

    async def scenario():
        app = CourseApp(module, workspace, lambda: open_session("embedded"))
        async with app.run_test() as pilot:
            deadline = asyncio.get_running_loop().time() + 60
            while app.session is None and asyncio.get_running_loop().time() < deadline:
                await pilot.pause(0.05)
            assert app.session is not None
            server_dir = app.session.server.server_dir
            await pilot.press("ctrl+c")
            await pilot.pause(0.5)
            assert not app.is_running, "ctrl+c did not quit the app"
        return server_dir

    server_dir = asyncio.run(scenario())
    assert not server_dir.exists()
    assert postgres_processes(server_dir) == []


INTERRUPT_DURING_IMPORT = '''
import sys

class Interrupt:
    """A Ctrl-C that arrives while `name` is being imported (as a user's does, at random)."""

    def find_spec(self, name, path=None, target=None):
        if name == {module!r}:
            raise KeyboardInterrupt
        return None

sys.meta_path.insert(0, Interrupt())
'''


def test_ctrl_c_while_the_command_imports_is_one_line_and_exit_130(tmp_path):
    """Issue 26: a Ctrl-C during start-up printed a 20-line traceback from inside an import."""
    for module in ("click", "course.cli.learner"):
        site = tmp_path / module
        site.mkdir()
        (site / "sitecustomize.py").write_text(INTERRUPT_DURING_IMPORT.format(module=module), encoding="utf-8")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
        done = subprocess.run(
            [sys.executable, "-m", "course.cli", "list"],
            capture_output=True,
            text=True,
            encoding="utf-8",
            env=env,
            cwd=tmp_path,
            timeout=60,
        )
        assert done.returncode == 130, (module, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr, (module, done.stderr)
        assert done.stderr.strip().splitlines() == ["course: interrupted; nothing was left running"], (module, done.stderr)
        assert not Path(tmp_path / "course-work").exists()
