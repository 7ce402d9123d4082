"""Class grading as root with and without CAP_SYS_ADMIN (a container's default capabilities allow
no new namespace): the isolation in force is said on the run's first line, a correct submission
passes, and a hostile one cannot read another submission's files or the reference solution,
cannot write outside its folder and private temp, and leaves no process or temp file behind.

The runs are real `course grade` commands; without CAP_SYS_ADMIN they run under
``capsh --drop=...`` (Debian's libcap2-bin)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from course.content.model import load_modules
from course.learner.workspace import Workspace

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="class-run confinement needs root"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="confinement is Linux's"),
]

SETTINGS = {
    "namespaces": "",
    "no-cap_sys_admin": "cap_sys_admin",
    "docker-default": "cap_sys_admin,cap_sys_ptrace,cap_sys_resource",
}

HOSTILE = """import os as _os, sys as _sys, time as _time


def _try(label, action):
    try:
        action()
        print(label, "DONE", flush=True)
    except Exception as error:
        print(label, "DENIED", type(error).__name__, flush=True)


def _write(path):
    with open(path, "w") as handle:
        handle.write("x")


print("UID", _os.getuid(), "CWD", _os.getcwd(), flush=True)
_try("READ-OTHER", lambda: open({other!r}).read())
_try("LIST-OTHER", lambda: _os.listdir({other_folder!r}))
_try("READ-SOLUTION", lambda: open({solution!r}).read())
_try("WRITE-OTHER", lambda: _write({other_write!r}))
_try("WRITE-CONTENT", lambda: _write({content_write!r}))
_try("WRITE-GRADER", lambda: _write({grader_write!r}))
_try("WRITE-TMP", lambda: _write("/tmp/hostile-{tag}"))
_try("WRITE-SHM", lambda: _write("/dev/shm/hostile-{tag}"))
if _os.fork() == 0:
    _os.setsid()
    if _os.fork() == 0:
        print("DAEMON", _os.getpid(), flush=True)
        _time.sleep(120)
    _os._exit(0)
_time.sleep(0.3)
"""


def capsh(command: list[str], drop: str) -> list[str]:
    if not drop:
        from checker.process import sandbox

        if sandbox.isolation().level != sandbox.NAMESPACES:
            pytest.skip(f"this machine allows no mount namespace ({sandbox.isolation().why})")
        return command
    if shutil.which("capsh") is None:
        pytest.skip("capsh is not installed (Debian: apt-get install libcap2-bin)")
    return ["capsh", f"--drop={drop}", "--", "-c", shlex.join(command)]


@pytest.fixture
def open_folder():
    """A folder other users could read (0755, under /tmp): pytest's own is root's alone, which
    would hide the class from a run's uid whatever the grader does."""
    folder = Path(tempfile.mkdtemp(prefix="course-sec-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def workspace_with(root: Path, exercise, models: str | None, link_to: Path | None = None) -> Path:
    workspace = Workspace(root)
    workspace.init([load_modules()[0]])
    workspace.close()
    folder = root / exercise.module_id / exercise.id
    if link_to is not None:
        shutil.rmtree(folder)
        folder.symlink_to(link_to, target_is_directory=True)
    elif models is not None:
        (folder / "models.py").write_text(models, encoding="utf-8")
    return root


def modes(*paths: Path) -> list[int]:
    return [stat.S_IMODE(p.stat().st_mode) for p in paths]


def original_modes(*paths: Path) -> list[int]:
    """Their modes, as they were before any class run running now closed them."""
    from checker.process import sandbox

    try:
        records = json.loads((sandbox.uid_lock_folder() / "shielded.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        records = {}
    return [records.get(os.path.realpath(p), {}).get("mode", mode) for p, mode in zip(paths, modes(*paths), strict=True)]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_a_class_run_isolates_each_submission(open_folder, setting):
    exercise = next(e for e in load_modules()[0].exercises if e.id == "02-models")
    solution = (exercise.solution_dir / "models.py").read_text(encoding="utf-8")
    tag = f"{os.getpid()}-{setting}"
    class_dir = open_folder / "class"
    ann = workspace_with(class_dir / "ann", exercise, solution)
    ann_models = ann / exercise.module_id / exercise.id / "models.py"
    hostile = HOSTILE.format(
        other=str(ann_models),
        other_folder=str(ann),
        solution=str(exercise.solution_dir / "models.py"),
        other_write=str(ann_models.parent / "planted.py"),
        content_write=str(exercise.checks_file.parent / f"planted-{tag}.py"),
        grader_write=str(open_folder / "planted.txt"),
        tag=tag,
    )
    mal = workspace_with(class_dir / "mal", exercise, hostile + solution)
    # a link to the reference solution, and one to another student's folder: not graded
    lnk = workspace_with(class_dir / "lnk", exercise, None, link_to=exercise.solution_dir)
    cop = workspace_with(class_dir / "cop", exercise, None)
    (cop / exercise.module_id / exercise.id / "models.py").unlink()
    (cop / exercise.module_id / exercise.id / "models.py").symlink_to(ann_models)
    os.mkfifo(cop / exercise.module_id / exercise.id / "pipe")  # never opened: the run does not hang
    watched = [class_dir, ann, exercise.checks_file.parent.parent, exercise.solution_dir]
    before = original_modes(*watched)
    report = open_folder / "report.json"
    command = [
        sys.executable,
        "-m",
        "course.cli",
        "grade",
        *(str(p) for p in (ann, mal, lnk, cop)),
        "--exercise",
        "02",
        "--jobs",
        "2",
        "--json",
        str(report),
    ]
    run = subprocess.run(
        capsh(command, SETTINGS[setting]),
        cwd=open_folder,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=300,
    )
    first = run.stderr.splitlines()[0] if run.stderr else ""
    assert first.startswith("course grade: isolation: own uid per submission"), run.stderr
    if SETTINGS[setting]:
        assert "no mount namespace" in first, first
    else:
        assert "private mount namespace" in first, first
    data = json.loads(report.read_text(encoding="utf-8"))
    results = {s["student"]: s["results"][0] for s in data["students"]}
    assert results["ann"]["status"] == "pass", results["ann"]
    output = results["mal"]["output"]
    uid = int(re.search(r"UID (\d+)", output).group(1))
    assert uid >= 1_900_000_000, output
    for attempt in ("READ-OTHER", "LIST-OTHER", "READ-SOLUTION", "WRITE-OTHER", "WRITE-CONTENT", "WRITE-GRADER"):
        assert f"{attempt} DENIED" in output, output
    assert results["lnk"]["status"] != "pass" and "symbolic link" in results["lnk"]["checks"][0]["message"], results["lnk"]
    assert results["cop"]["status"] != "pass", results["cop"]
    assert "left out of grading" in results["cop"]["output"] and "models.py ->" in results["cop"]["output"], results["cop"]
    # nothing of the hostile run is left: no process of its uid, no file in the shared temp folders
    daemon = int(re.search(r"DAEMON (\d+)", output).group(1))
    deadline = time.monotonic() + 5
    while alive(daemon) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(daemon), f"the daemon {daemon} outlived the run"
    assert not Path(f"/tmp/hostile-{tag}").exists() and not Path(f"/dev/shm/hostile-{tag}").exists()
    assert not (ann_models.parent / "planted.py").exists() and not (open_folder / "planted.txt").exists()
    assert not (exercise.checks_file.parent / f"planted-{tag}.py").exists()
    deadline = time.monotonic() + 120  # another class run of this machine may still hold them closed
    while modes(*watched) != before and time.monotonic() < deadline:
        time.sleep(0.5)
    assert modes(*watched) == before, "the folders closed during the run got their modes back"


@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_doctor_says_which_isolation_class_grading_gets(tmp_path, setting):
    command = [sys.executable, "-m", "course.cli", "doctor"]
    environment = {**os.environ, "COURSE_WORKSPACE": str(tmp_path / "ws")}
    run = subprocess.run(
        capsh(command, SETTINGS[setting]), capture_output=True, text=True, encoding="utf-8", timeout=120, env=environment
    )
    line = next((line for line in run.stdout.splitlines() if line.split()[1:3] == ["class", "grading"]), "")
    assert "isolation: own uid per submission" in line, run.stdout
    assert ("no mount namespace" in line) == bool(SETTINGS[setting]), line


def test_the_isolation_line_comes_first_in_a_sharded_run_too(open_folder):
    exercise = next(e for e in load_modules()[0].exercises if e.id == "02-models")
    ann = workspace_with(open_folder / "class" / "ann", exercise, None)
    run = subprocess.run(
        [sys.executable, "-m", "course.cli", "grade", str(ann), "--exercise", "02", "--shard", "1/1"],
        cwd=open_folder,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=300,
    )
    lines = run.stderr.splitlines()
    assert lines and lines[0].startswith("course grade: isolation: "), run.stderr
    assert any(line.startswith("course grade: shard 1/1") for line in lines[1:]), run.stderr
