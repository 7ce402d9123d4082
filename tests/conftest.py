"""Shared fixtures: an isolated state directory and one real embedded Postgres for the run."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# Every test run gets its own state dir (short, under /tmp where there is one: unix socket paths
# are limited to ~100 bytes), so tests never touch a developer's real servers, and CLI subprocesses
# inherit it.
_STATE = tempfile.mkdtemp(prefix="cst-", dir="/tmp" if os.name == "posix" else None)
os.environ["COURSE_STATE_DIR"] = _STATE
os.environ.pop("COURSE_BACKEND", None)
os.environ.pop("COURSE_DATABASE_URL", None)
os.environ.pop("COURSE_WORKSPACE", None)


# -- what a test needs of the OS (markers in pyproject.toml): skipped with the reason elsewhere, never failing

POSIX = hasattr(os, "fork") and hasattr(signal, "SIGKILL") and hasattr(os, "killpg")
LINUX = sys.platform.startswith("linux") and os.path.isdir("/proc/self")
ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
LINUX_TIERS = ("security", "foreign")
"""Tiers that are Linux's by nature: the class-run sandbox and its attacks; the tier that plays
Windows and macOS on Linux."""


def pytest_collection_modifyitems(config, items):
    tests = Path(__file__).resolve().parent
    needs = {
        "posix": (POSIX, "needs POSIX processes (fork, process groups, SIGKILL/SIGSTOP): not on this OS"),
        "linux": (LINUX, "needs Linux (/proc, namespaces, the forking worker): not on this OS"),
        "root": (ROOT, "needs root (CI runs as root)"),
    }
    for item in items:
        path = Path(str(item.fspath)).resolve()
        if path.is_relative_to(tests) and path.relative_to(tests).parts[0] in LINUX_TIERS:
            item.add_marker(pytest.mark.linux)
        for marker, (available, reason) in needs.items():
            if not available and item.get_closest_marker(marker) is not None:
                item.add_marker(pytest.mark.skip(reason=reason))


# -- the fast tier (`pytest -m fast`, CONTRIBUTING.md): pure logic for the inner loop, under 30 s

SLOW_FIXTURES = frozenset({"databases", "grading", "warm_launcher", "state_dir", "snap_compare"})
"""Fixtures that start Postgres, a grading worker or the app: a test that asks for one is not fast."""
SLOW_CALLS = re.compile(
    r"\b(course|open_session|default_launcher|cold_launcher|run_test|run_start|grade|grade_class|validate|"
    r"validate_content|check_exercises|mutate|Popen|run|check_output|spawn|fork|materialised|start|run_fresh|"
    r"\w+_cli|environment_check|private_mounts|pass_rate|perturbations|attempt)\("
)
"""What a test's own code calls that starts a process, a server, the app or a grading run, or
simulates many learners: such a test is not fast (the tier's budget is 30 s in all)."""
SLOW_TIERS = frozenset({"cli", "security", "foreign", "repo"})
"""Tiers that drive the real CLI, attack the sandbox, or run the linters: never fast."""


def pytest_itemcollected(item):
    """Mark ``fast`` the tests of pure logic: no slow fixture, no slow call in their own code,
    not of a slow tier, not marked slow."""
    import inspect

    tests = Path(__file__).resolve().parent
    path = Path(str(item.fspath)).resolve()
    if not path.is_relative_to(tests) or path.relative_to(tests).parts[0] in SLOW_TIERS:
        return
    if item.get_closest_marker("slow") is not None or SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
        return
    try:
        source = inspect.getsource(item.function)
    except (AttributeError, OSError, TypeError):
        return
    if not SLOW_CALLS.search(source):
        item.add_marker(pytest.mark.fast)


def pytest_sessionfinish(session, exitstatus):
    from course.postgres import embedded

    servers = servers_root()
    if servers.is_dir():
        for server in servers.iterdir():
            embedded.stop(server)
    shutil.rmtree(servers, ignore_errors=True)
    shutil.rmtree(_STATE, ignore_errors=True)


def servers_root() -> Path:
    """Where this run's throwaway servers live (in RAM when there is room)."""
    from course import locations

    return locations.servers_dir()


@pytest.fixture(scope="session")
def state_dir() -> Path:
    return Path(_STATE)


@pytest.fixture(scope="session")
def databases():
    """One embedded server and database session for the whole run (the warm path)."""
    from course.postgres.session import open_session

    session = open_session("embedded")
    SHARED_SERVERS.add(str(session.server.server_dir))
    yield session
    session.close()


@pytest.fixture(scope="session")
def warm_launcher():
    """One warm launcher for the run (the path the TUI, watch and --all take): a forking worker,
    or spawned interpreters in the portable mode."""
    from checker.process.launch import default_launcher

    worker = default_launcher()
    yield worker
    worker.close()


@pytest.fixture(scope="session")
def grading(databases, warm_launcher):
    """The run's databases and warm launcher as one grading session (each is closed by its own
    fixture at the end of the run)."""
    from course.grading.session import GradingSession

    return GradingSession(databases, warm_launcher, paired=False)


@pytest.fixture(scope="session")
def modules():
    from course.content.model import load_modules

    return load_modules()


@pytest.fixture(scope="session")
def exercises(modules):
    return {exercise.id: exercise for module in modules for exercise in module.exercises}


SHARED_SERVERS: set[str] = set()
"""Server dirs of the run's shared session: not counted as "left running" by tests."""


def _command_lines():
    """(pid, command line) of every process we may see: from /proc, else psutil (macOS, Windows)."""
    if not os.path.isdir("/proc/self"):
        import psutil

        for process in psutil.process_iter(["cmdline"]):
            yield process.pid, " ".join(process.info.get("cmdline") or [])
        return
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            yield int(pid), Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue


def postgres_processes(state_dir: Path) -> list[str]:
    """Command lines of running postgres servers whose data lives under ``state_dir`` (the run's
    shared server excepted)."""
    found = []
    for _pid, cmdline in _command_lines():
        places = [str(state_dir)] + ([str(servers_root())] if str(state_dir) == _STATE else [])
        if "postgres" in cmdline and "-D" in cmdline and any(place in cmdline for place in places):
            if not any(shared in cmdline for shared in SHARED_SERVERS):
                found.append(cmdline)
    return found


def children_of(pid: int) -> list[int]:
    if not os.path.isdir("/proc/self"):
        import psutil

        try:
            return [child.pid for child in psutil.Process(pid).children()]
        except psutil.Error:
            return []
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = dict(
                    line.split(":", 1)
                    for line in Path(f"/proc/{entry}/status").read_text(encoding="utf-8").splitlines()
                    if ":" in line
                )
            except OSError:
                continue
            if int(fields.get("PPid", "0").strip() or 0) == pid:
                found.append(int(entry))
    return found


def cwd_of(pid: int) -> Path | None:
    if not os.path.isdir("/proc/self"):
        import psutil

        try:
            return Path(psutil.Process(pid).cwd()).resolve()
        except (psutil.Error, OSError):
            return None
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd")).resolve()
    except OSError:
        return None


def running(pid: int) -> bool:
    """Alive and not a zombie."""
    if not os.path.isdir("/proc/self"):
        import psutil

        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return False
    state = next((line.split()[1] for line in status.splitlines() if line.startswith("State:")), "X")
    return state not in ("Z", "X")


def course(*args: str, workspace: Path | None = None, input: str | None = None, env: dict | None = None, cwd=None, timeout=180):
    """The real `course` command in a subprocess (text output, UTF-8)."""
    environment = {**os.environ, **(env or {})}
    if workspace is not None:
        environment["COURSE_WORKSPACE"] = str(workspace)
    return subprocess.run(
        [sys.executable, "-m", "course.cli", *args],
        capture_output=True,
        text=True,
        input=input,
        env=environment,
        cwd=cwd,
        timeout=timeout,
        encoding="utf-8",
    )


# -- the app's tests (tests/tui): the course's first module in a fresh workspace, on the run's databases


class SharedSession:
    """The test run's database session, not closed by the app (the run closes it)."""

    def __init__(self, session):
        self._session = session

    def __getattr__(self, name):
        return getattr(self._session, name)

    def close(self) -> None:
        pass


@pytest.fixture
def module():
    """The first module of the built-in course."""
    from course.content.model import load_modules

    return load_modules()[0]


@pytest.fixture
def workspace(tmp_path, module):
    from course.learner.workspace import Workspace

    workspace = Workspace(tmp_path / "ws")
    workspace.init([module])
    yield workspace
    workspace.close()
