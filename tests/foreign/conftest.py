"""The foreign-platform tier's fixture: ``course`` as a student runs it on Windows or macOS.

Each condition gets a folder of its own under ``/tmp`` holding a temporary folder (``TMPDIR``)
exactly as long as macOS's (``/var/folders/xx/<30 characters>/T``), and nothing else: no
``COURSE_STATE_DIR`` (the default state folder is used, as on a student's laptop), no
``COURSE_PORTABLE`` (the way each job goes is chosen from what the platform offers). Every
Python process of a command runs under ``site/sitecustomize.py`` (see its docstring).

As root, the commands run as an ordinary user (uid 1000 in a user namespace of their own, the
files still ours): students are not root, and Postgres and ``pg_ctl`` refuse to run as root.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SITE = HERE / "site"
"""Put on ``PYTHONPATH``: only ``sitecustomize.py`` there (not this folder's ``conftest``)."""
REPOSITORY = HERE.parent.parent
MACOS_TMPDIR_LENGTH = len("/var/folders/xx/") + 30 + len("/T")
"""A student's ``$TMPDIR`` on macOS: ``/var/folders/<2>/<30>/T``."""


def as_a_user() -> list[str]:
    """The prefix that runs a command as an ordinary user: none unless we are root."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return []
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("as root this tier needs unshare (util-linux) to run the commands as an ordinary user")
    probe = subprocess.run([unshare, "--user", "--map-user=1000", "--map-group=1000", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"as root this tier needs user namespaces to run the commands as an ordinary user: {probe.stderr!r}")
    return [unshare, "--user", "--map-user=1000", "--map-group=1000"]


def macos_length_tmpdir() -> Path:
    """A new folder whose path is exactly as long as a macOS ``$TMPDIR``."""
    base = Path(tempfile.mkdtemp(prefix="cf-", dir="/tmp"))
    base.chmod(0o755)
    pad = MACOS_TMPDIR_LENGTH - len(str(base)) - len("/") - len("/T")
    assert pad > 0, base
    tmpdir = base / ("x" * pad) / "T"
    tmpdir.mkdir(parents=True)
    assert len(str(tmpdir)) == MACOS_TMPDIR_LENGTH
    return tmpdir


@dataclass
class Foreign:
    """One condition (``windows`` or ``macos``) and how to run a command under it."""

    platform: str
    tmpdir: Path
    prefix: list[str]
    env: dict[str, str] = field(default_factory=dict)

    @property
    def base(self) -> Path:
        return self.tmpdir.parent.parent

    def command(self, *args: str) -> list[str]:
        return [*self.prefix, sys.executable, "-m", "course.cli", *args]

    def environment(self, workspace: Path | None = None, **extra: str) -> dict[str, str]:
        env = dict(self.env)
        if workspace is not None:
            env["COURSE_WORKSPACE"] = str(workspace)
        env.update(extra)
        return env

    def course(self, *args: str, workspace: Path | None = None, timeout: float = 240, **extra: str):
        """The real ``course`` command, as the student runs it; never a traceback."""
        result = subprocess.run(
            self.command(*args),
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=self.environment(workspace, **extra),
            cwd=self.base,
            timeout=timeout,
        )
        assert "Traceback" not in result.stdout + result.stderr, (args, result.stdout, result.stderr)
        return result

    def postgres_left(self) -> list[str]:
        """Command lines of Postgres servers still running from this condition's folders."""
        import psutil

        found = []
        for process in psutil.process_iter(["cmdline"]):
            cmdline = " ".join(process.info.get("cmdline") or [])
            if "postgres" in cmdline and str(self.base) in cmdline:
                found.append(cmdline)
        return found


def _clean_environment(platform: str, tmpdir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("COURSE_", "FOREIGN_", "PYTEST_"))}
    existing = os.environ.get("PYTHONPATH")
    env.update(
        PYTHONPATH=str(SITE) + (os.pathsep + existing if existing else ""),
        FOREIGN_PLATFORM=platform,
        TMPDIR=str(tmpdir),
        HOME=str(tmpdir.parent),
        PYTHONUNBUFFERED="1",
        COLUMNS="120",
    )
    return env


@pytest.fixture(
    scope="module",
    params=[pytest.param(name, marks=pytest.mark.xdist_group(f"foreign-{name}")) for name in ("windows", "macos")],
)
def foreign(request):
    tmpdir = macos_length_tmpdir()
    condition = Foreign(request.param, tmpdir, as_a_user())
    condition.env = _clean_environment(request.param, tmpdir)
    yield condition
    # whatever a failed test left running: stopped the way the platform's code stops it
    stop_all = (
        "from course import locations\nfrom course.postgres import embedded\nfrom course.grading import service\n"
        "service.stop()\n"
        "servers = locations.servers_dir()\n"
        "for server in servers.iterdir() if servers.is_dir() else []:\n    embedded.stop(server)\n"
    )
    with contextlib.suppress(subprocess.SubprocessError, OSError):
        subprocess.run(
            [*condition.prefix, sys.executable, "-c", stop_all],
            env=condition.env,
            cwd=condition.base,
            capture_output=True,
            timeout=60,
            check=False,
        )
    shutil.rmtree(condition.base, ignore_errors=True)
