"""``course grade``: grade many workspaces (one per student), in parallel, and report.

Each submission runs in its own database, as its own role without superuser rights, on a
server that requires passwords: one student's code cannot connect to another's database.

Results are written as they arrive to a JSON Lines file (:class:`ResultsLog`: one line per
(student, exercise) result, flushed and fsynced, mode 0600), and the reports — a summary
table, JSON, and JUnit XML (one testcase per exercise per student) — are built from that file
at the end. A run that was killed is continued with ``--resume``: the pairs already in the file
are not graded again unless the submission's files (or the exercise's checks) changed since.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no advisory locks
    fcntl = None  # type: ignore[assignment]

from checker.process import platform
from checker.results import CheckResult, ExerciseResult, Status
from course.content.model import Exercise
from course.errors import CourseError
from course.grading.points import Worth

RESULTS_NAME = "grade-results.jsonl"
"""The results file when neither ``--results`` nor ``--json`` names one (in the current folder)."""
MISSING = "missing"
"""The fingerprint of an exercise folder that does not exist."""
_LINE_START = b'{"workspace": '
"""How every line of a results file starts (its first key): tells ours from someone else's file."""


class ResultsFileError(CourseError):
    """The results file cannot be used (someone else's file, an earlier run's, unwritable)."""


@dataclass
class Submission:
    workspace: Path
    results: list[ExerciseResult] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.workspace.name


def default_results_path(json_path: Path | None) -> Path:
    """Next to the ``--json`` report (``results.json`` → ``results.jsonl``), else
    ``grade-results.jsonl`` in the current folder."""
    if json_path is None:
        return Path(RESULTS_NAME)
    path = json_path.with_suffix(".jsonl")
    return path if path != json_path else json_path.with_name(json_path.name + ".jsonl")


def fingerprint(folder: Path, exercise: Exercise) -> str:
    """What a result was graded from: the submission folder's files (names, kinds, contents;
    caches left out) and the exercise's checks. Either changes, the pair is graded again."""
    if folder.is_symlink():  # never followed: graded as a link (see linked_folder)
        return hashlib.sha256(f"link\0{os.readlink(folder)}".encode()).hexdigest()[:32]
    if not folder.is_dir():
        return MISSING
    digest = hashlib.sha256()
    for name in ("checks.py", "exercise.toml"):
        path = exercise.checks_file if name == "checks.py" else exercise.path / name
        digest.update(f"exercise/{name}\0{_file_digest(path)}\n".encode())
    _digest_tree(folder, "", digest)
    return digest.hexdigest()[:32]


def _digest_tree(folder: Path, prefix: str, digest) -> None:
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError as error:
        digest.update(f"unreadable\0{prefix}\0{error.strerror}\n".encode())
        return
    for entry in entries:
        if entry.name == "__pycache__" or entry.name.endswith((".pyc", ".pyo")):
            continue
        relative = prefix + entry.name
        try:
            mode = entry.stat(follow_symlinks=False).st_mode
        except OSError:
            continue  # gone meanwhile
        if stat.S_ISLNK(mode):  # never followed: a link to /dev/zero or out of the folder is a name
            target = os.readlink(entry.path)
            digest.update(f"link\0{relative}\0{target}\n".encode())
        elif stat.S_ISDIR(mode):
            digest.update(f"dir\0{relative}\n".encode())
            _digest_tree(Path(entry.path), relative + "/", digest)
        elif stat.S_ISREG(mode):
            digest.update(f"file\0{relative}\0{_file_digest(Path(entry.path))}\n".encode())
        else:  # a fifo, socket or device: never opened
            digest.update(f"other\0{relative}\0{stat.S_IFMT(mode)}\n".encode())


def _file_digest(path: Path) -> str:
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as error:
        return f"unreadable: {error.strerror}"


Key = tuple[str, str, str]
"""(the workspace's resolved path, the exercise's full id, the fingerprint graded)."""


class ResultsLog:
    """The JSON Lines file of a run: one line per (student, exercise) result, each flushed and
    fsynced before the next, mode 0600 (results carry the learners' output).

    ``resume=False`` starts a new run: a file that already holds results is refused (it is
    what ``--resume`` continues, and is never overwritten). ``resume=True`` reads it: a last
    line cut short by a kill is dropped (that pair is graded again).
    """

    def __init__(self, path: Path, *, resume: bool):
        self.path = path
        self.resumed = 0
        self.worth: dict[str, dict[str, float]] = {}
        """What each check is worth (``course.grading.points``), written on each line: a merge computes the same points."""
        self.starter_prints: dict[str, str] = {}
        """Each exercise's starter fingerprint: a line whose folder is the untouched starter says so (not attempted)."""
        self._lock = threading.Lock()
        if path.is_dir():
            raise ResultsFileError(f"the results file {path} is a folder; fix: name a file with --results")
        if not resume and path.exists() and path.stat().st_size > 0:
            raise ResultsFileError(
                f"{path} already holds results of an earlier run; fix: add --resume to continue that run "
                "(changed submissions are graded again), or delete it, or pick another file with --results"
            )
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        except OSError as error:
            raise ResultsFileError(
                f"cannot write the results file {path} ({error.strerror or error}); "
                "fix: create its folder or pick another file with --results"
            ) from None
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released when we close it, or die
                except BlockingIOError:
                    raise ResultsFileError(
                        f"another `course grade` is writing {path}; fix: let it finish, or give this run another --results file"
                    ) from None
            records, complete_size = _read(path)  # someone else's file is refused here, untouched
            self.finished: dict[Key, ExerciseResult] = {}
            for record in records:
                self.finished[_key(record)] = ExerciseResult.from_json(record["result"])
            platform.restrict_descriptor(self._fd, 0o600)  # (Windows: no fchmod before Python 3.13, nor a use)
            if os.fstat(self._fd).st_size > complete_size:  # a line cut short by a kill
                os.ftruncate(self._fd, complete_size)
            os.fsync(self._fd)
            _fsync_folder(path.parent)
        except OSError as error:
            os.close(self._fd)
            raise ResultsFileError(
                f"cannot write the results file {path} ({error.strerror or error}); fix: check its permissions"
            ) from None
        except BaseException:
            os.close(self._fd)
            raise

    def write(self, workspace: Path, exercise: Exercise, digest: str, result: ExerciseResult) -> None:
        record = {
            "workspace": str(workspace),
            "student": workspace.name,
            "exercise": exercise.full_id,
            "fingerprint": digest,
            "graded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "result": result.to_wire(),  # each statement's SQL once
            **({"worth": self.worth[exercise.full_id]} if exercise.full_id in self.worth else {}),
            **({"untouched": True} if digest in (MISSING, self.starter_prints.get(exercise.full_id)) else {}),
        }
        line = json.dumps(record).encode() + b"\n"
        with self._lock:
            try:
                view = memoryview(line)
                while view:
                    view = view[os.write(self._fd, view) :]
                os.fsync(self._fd)
            except OSError as error:
                raise ResultsFileError(
                    f"cannot write to the results file {self.path} ({error.strerror or error}); "
                    "fix: make room, then continue the run with --resume"
                ) from None

    def records(self) -> dict[Key, ExerciseResult]:
        """Every result in the file as it is on disk now (the last line of a pair wins)."""
        records, _ = _read(self.path)
        return {_key(record): ExerciseResult.from_json(record["result"]) for record in records}

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


def _key(record: dict) -> Key:
    return (record["workspace"], record["exercise"], record["fingerprint"])


def _read(path: Path, fix: str | None = None) -> tuple[list[dict], int]:
    """The records of a results file and the size of its complete lines; a missing file is
    empty. Anything but our lines (and one cut-short last line) is refused, never truncated."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], 0
    except OSError as error:
        raise ResultsFileError(
            f"cannot read the results file {path} ({error.strerror or error}); fix: check its permissions"
        ) from None
    complete_size = data.rfind(b"\n") + 1
    records = []
    for number, line in enumerate(data[:complete_size].split(b"\n")[:-1], 1):
        try:
            record = json.loads(line)
            _key(record)
            ExerciseResult.from_json(record["result"])
        except (ValueError, KeyError, TypeError, AttributeError):
            raise _not_ours(path, number, fix) from None
        records.append(record)
    tail = data[complete_size:]
    if tail and not (tail.startswith(_LINE_START) or _LINE_START.startswith(tail)):
        raise _not_ours(path, len(records) + 1, fix)
    return records, complete_size


def _not_ours(path: Path, line: int, fix: str | None = None) -> ResultsFileError:
    fix = fix or "pass the results file of a `course grade` run with --results, or remove this file to start over"
    return ResultsFileError(f"{path}:{line} is not a `course grade` result line; fix: {fix}")


def _fsync_folder(folder: Path) -> None:
    """Make a new file's name durable too (where folders can be opened: not on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class _Stopped(Exception):
    """A run cut short because the whole class run is stopping."""


def linked_folder(workspace: Path, folder: Path) -> str | None:
    """Why ``folder`` (an exercise folder of ``workspace``) cannot be graded at all: it, the
    module folder above it or the workspace is a symbolic link — to the reference solution or to
    another student's folder, it would pass with no code written. None when all are real folders."""
    for path in (workspace, folder.parent, folder):
        if path.is_symlink():
            shown = path.name if path == workspace else path.relative_to(workspace)
            return (
                f"{shown} is a symbolic link (to {os.readlink(path)}), not a folder of your own: "
                "links are never followed, so nothing was graded; fix: submit the folder itself with your files in it"
            )
    return None


def links_in(folder: Path) -> list[str]:
    """What in ``folder`` is left out of grading: links (to anywhere) and special files (FIFOs,
    sockets, devices), as ``name -> target`` or ``name (kind)``; never followed nor opened."""
    found = []
    for root, dirs, files in os.walk(folder):
        for name in sorted(dirs + files):
            path = os.path.join(root, name)
            try:
                mode = os.lstat(path).st_mode
            except OSError:
                continue
            relative = os.path.relpath(path, folder)
            if stat.S_ISLNK(mode):
                found.append(f"{relative} -> {os.readlink(path)}")
            elif not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                found.append(f"{relative} ({'a FIFO' if stat.S_ISFIFO(mode) else 'a special file'})")
        dirs[:] = [d for d in dirs if d != "__pycache__" and not os.path.islink(os.path.join(root, d))]
    return found


def _left_out_note(left_out: list[str]) -> str:
    shown = ", ".join(left_out[:5]) + (f" and {len(left_out) - 5} more" if len(left_out) > 5 else "")
    return f"left out of grading (links and special files are never followed; only your own files count): {shown}"


def _told(result: ExerciseResult, note: str) -> ExerciseResult:
    """``result`` with ``note`` in its output and in the message of every check that did not pass."""
    result.output = f"{note}\n{result.output}"
    for check in result.checks:
        if check.status != "pass":
            check.message = f"{check.message}\n({note})"
    return result


class _Slots:
    """The databases of a class run, one session per concurrent job: with ``jobs`` > 1, each
    further job gets a server of its own (``DatabaseSession.another``), so a submission that
    fills its server's lock table or memory hurts only itself, and the next run on that server
    starts clean (its connections end with its database). Each grading run takes a free one."""

    def __init__(self, databases, launcher, jobs: int):
        import queue

        self._free: queue.Queue = queue.Queue()
        self._free.put(databases)
        self.extra: list = []
        self._starting: list[threading.Thread] = []
        if jobs > 1 and hasattr(databases, "another"):
            for number in range(jobs - 1):
                thread = threading.Thread(
                    target=self._start, args=(databases, launcher), name=f"course-slot-{number}", daemon=True
                )
                thread.start()
                self._starting.append(thread)

    def _start(self, databases, launcher) -> None:
        try:
            extra = databases.another()
        except Exception:  # the run goes on with fewer servers (each submission's bounds still hold)
            return
        if extra is None:
            return
        self.extra.append(extra)
        from course.grading.session import pair

        pair(extra, launcher)
        self._free.put(extra)

    @contextlib.contextmanager
    def take(self):
        databases = self._free.get()
        try:
            yield databases
        finally:
            self._free.put(databases)

    def close(self) -> None:
        for thread in self._starting:
            thread.join(timeout=60)
        for extra in self.extra:
            with contextlib.suppress(Exception):
                extra.close()


def grade_workspaces(
    workspaces: list[Path],
    exercises: list[Exercise],
    databases,
    launcher,
    jobs: int = 2,
    log: ResultsLog | None = None,
) -> list[Submission]:
    """Grade every exercise of every workspace; a missing exercise folder is an error result.

    With ``log``, each result is written to it as it arrives, the pairs it already holds for the
    same files are not graded again, and what is returned is read back from it.
    """
    submissions = [Submission(path.absolute() if path.is_symlink() else path.resolve()) for path in workspaces]
    pairs = []
    for submission in submissions:
        for exercise in exercises:
            folder = submission.workspace / exercise.module_id / exercise.id
            pairs.append((submission, exercise, folder, fingerprint(folder, exercise)))
    stopping = threading.Event()  # Ctrl-C, or a results file that cannot be written: runs end now

    def one(submission: Submission, exercise: Exercise, folder: Path, digest: str) -> ExerciseResult:
        linked = linked_folder(submission.workspace, folder)
        if linked is not None:
            result = ExerciseResult(
                exercise.full_id, Status.ERROR, 0.0, [CheckResult("run", Status.ERROR, linked, title="Find the exercise")]
            )
        elif digest == MISSING:
            missing = CheckResult(
                "run", Status.ERROR, f"no folder {exercise.module_id}/{exercise.id} in this workspace", title="Find the exercise"
            )
            result = ExerciseResult(exercise.full_id, Status.ERROR, 0.0, [missing])
        else:
            result = _grade_folder(exercise, folder, slots, launcher, stopping.is_set)
        if stopping.is_set():
            raise _Stopped  # a cancelled run is no result: --resume grades it
        if log is not None:
            log.write(submission.workspace, exercise, digest, result)
        return result

    results: dict[Key, ExerciseResult] = {}
    todo, queued = [], set()
    for submission, exercise, folder, digest in pairs:
        key = (str(submission.workspace), exercise.full_id, digest)
        done = log.finished.get(key) if log is not None else None
        if done is not None:
            results[key] = done
        elif key not in queued:  # a workspace given twice is graded once
            queued.add(key)
            todo.append((submission, exercise, folder, digest))
    if log is not None:
        log.resumed = len(results)
    jobs = max(1, min(jobs, len(todo)))
    pool = ThreadPoolExecutor(max_workers=jobs)
    slots = _Slots(databases, launcher, jobs)
    try:
        with _shielded_for(launcher, [s.workspace for s in submissions], exercises):
            for group, graded in _in_turns(pool, one, todo, jobs, launcher):
                for (submission, exercise, _, digest), result in zip(group, graded, strict=True):
                    results[(str(submission.workspace), exercise.full_id, digest)] = result
    except BaseException:
        stopping.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        slots.close()
    if log is not None:
        results = {**results, **log.records()}  # the reports are what the file holds
    for submission, exercise, _, digest in pairs:
        submission.results.append(results[(str(submission.workspace), exercise.full_id, digest)])
    return submissions


def _in_turns(pool, one, todo: list, jobs: int, launcher):
    """Grade ``todo`` (submission, exercise, folder, digest) on ``pool``; yield each group of pairs
    with its results as they finish. Where the launcher lets one interpreter serve a submission's
    runs (the portable way: ``checker.process.launch.SpawnLauncher.reuses``) and there are as many
    submissions as jobs, a submission's exercises are graded one after the other (one interpreter
    serves them); else each pair on its own."""
    groups: dict[str, list] = {}
    for pair in todo:
        groups.setdefault(str(pair[0].workspace), []).append(pair)
    if getattr(launcher, "reuses", False) and len(groups) >= jobs:
        launcher.in_turns()
        futures = {pool.submit(lambda group: [one(*pair) for pair in group], group): group for group in groups.values()}
    else:
        futures = {pool.submit(lambda pair: [one(*pair)], pair): [pair] for pair in todo}
    for future in as_completed(futures):
        yield futures[future], future.result()


def _grade_folder(exercise: Exercise, folder: Path, slots: _Slots, launcher, cancelled) -> ExerciseResult:
    """Grade ``folder`` on a free slot's databases; links and special files in it are left out
    (a staged copy without them is graded) and the submission is told so."""
    from checker.process.runner import grade
    from course.grading.session import job_for

    left_out = links_in(folder)
    with contextlib.ExitStack() as stack:
        if left_out:
            from checker.process.sandbox import copy_submission

            staging = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="course-grade-")))
            staged = staging / folder.parent.name / folder.name
            staged.parent.mkdir(mode=0o755)
            copy_submission(folder, staged, None, links=False)
            folder = staged
        with slots.take() as databases:
            result = grade(job_for(exercise, folder), databases, launcher=launcher, cancelled=cancelled)
    return _told(result, _left_out_note(left_out)) if left_out else result


def _shielded_for(launcher, workspaces: list[Path], exercises: list[Exercise]):
    """Where a run's uid is all that separates submissions (no mount namespace, see
    ``checker.process.sandbox``): the submissions' folders and the content's module folders
    (the reference solutions) closed to other users while the class run lasts."""
    from checker.process import sandbox

    confinement = getattr(launcher, "confinement", None)
    if confinement is None or confinement.namespaces:
        return contextlib.nullcontext()
    modules = {str(exercise.checks_file.resolve().parents[1]) for exercise in exercises}
    return sandbox.shielded([*(str(w) for w in workspaces if not w.is_symlink()), *sorted(modules)])


OUTPUT_CAP = 2000
"""Characters of a result's output the class JSON keeps (the results file holds it whole)."""


def to_json(submissions: list[Submission], worth: Worth | None = None, attempted: list[set[str]] | None = None) -> dict:
    """The class JSON: per student their points (``course.grading.points``) and results, each
    result with its points and each check with what it is worth and scored; SQL once per
    statement (``statements``), not repeated as ``sql``; output cut at :data:`OUTPUT_CAP`. A
    result not attempted (``attempted``: per submission, the exercises changed from the
    starter) keeps only its checks' names, statuses and points: the starter's messages say
    nothing of the student."""
    from course.grading.points import check_points, grade_of

    worth = worth or {}
    students = []
    for number, s in enumerate(submissions):
        grade = grade_of(s.results, worth)
        results = []
        for r in s.results:
            data = r.to_wire()
            points, most = grade.exercises[r.exercise]
            data["points"], data["max_points"] = round(points, 4), round(most, 4)
            if len(data["output"]) > OUTPUT_CAP:
                data["output"] = data["output"][:OUTPUT_CAP] + "…"
            untouched = attempted is not None and r.exercise not in attempted[number]
            if untouched:
                data["attempted"] = False
                data["output"] = ""
            mine = worth.get(r.exercise, {})
            for check in data["checks"]:
                check["points"] = 0.0 if r.tampered else check_points(check["name"], check["status"], mine)
                check["max_points"] = mine.get(check["name"], 0.0)
                if untouched:
                    for key in ("message", "statements", "duration_s"):
                        check.pop(key, None)
                else:
                    _compact_statements(check)
            results.append(data)
        students.append(
            {
                "student": s.name,
                "workspace": str(s.workspace),
                "points": round(grade.points, 4),
                "max_points": round(grade.max, 4),
                "passed": sum(1 for r in s.results if r.passed),
                "total": len(s.results),
                "tampered": [r.exercise for r in s.results if r.tampered],
                "results": results,
            }
        )
    return {"graded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "students": students}


STATEMENTS_CAP = 10
"""Statements per check the class JSON keeps (the results file holds them all)."""
_DEFAULTS = {"count": 1, "location": None, "note": None, "flagged": False}


def _compact_statements(check: dict) -> None:
    """A check's statements with their default fields left out, at most :data:`STATEMENTS_CAP`."""
    statements = check.get("statements") or []
    check["statements"] = [{k: v for k, v in view.items() if _DEFAULTS.get(k, ...) != v} for view in statements[:STATEMENTS_CAP]]
    if len(statements) > STATEMENTS_CAP:
        check["more_statements"] = len(statements) - STATEMENTS_CAP


def to_junit(submissions: list[Submission], worth: Worth | None = None) -> str:
    """JUnit XML: a testsuite per student, a testcase per exercise (classname = student), each
    with ``points`` and ``max_points`` properties."""
    from course.grading.points import grade_of

    suites = ET.Element("testsuites", name="course")
    for submission in submissions:
        grade = grade_of(submission.results, worth or {})
        failures = sum(1 for r in submission.results if r.status == "fail")
        errors = sum(1 for r in submission.results if r.status == "error")
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=submission.name,
            tests=str(len(submission.results)),
            failures=str(failures),
            errors=str(errors),
            time=f"{sum(r.duration_s for r in submission.results):.3f}",
        )
        _points_properties(suite, grade.points, grade.max)
        for result in submission.results:
            case = ET.SubElement(
                suite, "testcase", classname=submission.name, name=result.exercise, time=f"{result.duration_s:.3f}"
            )
            _points_properties(case, *grade.exercises[result.exercise])
            if result.status != "pass":
                bad = [c for c in result.checks if c.status != "pass"]
                summary = "; ".join(c.name for c in bad)
                element = ET.SubElement(
                    case,
                    "failure" if result.status == "fail" else "error",
                    message=f"{len(bad)} check(s) not passing: {summary}",
                    type=result.status,
                )
                element.text = "\n\n".join(f"[{c.status}] {c.name}: {c.message}" for c in bad)
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def _points_properties(element: ET.Element, points: float, most: float) -> None:
    from course.grading.points import fmt

    properties = ET.SubElement(element, "properties")
    ET.SubElement(properties, "property", name="points", value=fmt(points))
    ET.SubElement(properties, "property", name="max_points", value=fmt(most))


LEGEND = "✓ passes  ✗ a check fails  ! error (did not run, or timed out)  ⚠ tampered"


def print_summary(submissions: list[Submission], exercises: list[Exercise | str], worth: Worth | None = None) -> None:
    """The student × exercise table (``exercises``: Exercises or full ids): one column per
    exercise under its shortest unique label, the points, a legend; names are never cut
    (they wrap when the terminal is narrow)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from course.grading.points import fmt, grade_of, short_labels

    marks = {"pass": "[green]✓[/]", "fail": "[red]✗[/]", "error": "[yellow]![/]"}
    # No vertical rules and one space between columns: 13 exercises, the totals and a name fit in 80 columns.
    table = Table(title="course grade", title_justify="left", box=box.SIMPLE_HEAVY, padding=0, show_edge=False)
    table.add_column("student", overflow="fold", min_width=8)
    ids = [exercise if isinstance(exercise, str) else exercise.full_id for exercise in exercises]
    labels = short_labels(ids)
    for full_id in ids:
        table.add_column(labels[full_id], justify="center", no_wrap=True)
    table.add_column("passed", justify="right", no_wrap=True)
    if worth is not None:
        table.add_column("points", justify="right", no_wrap=True)
    flagged = []
    for submission in submissions:
        by_id = {r.exercise: r for r in submission.results}
        row = ["[bold red]⚠[/]" if by_id[e].tampered else marks[by_id[e].status] for e in ids]
        cells = [f"{sum(1 for r in submission.results if r.passed)}/{len(exercises)}"]
        if worth is not None:
            grade = grade_of(submission.results, worth)
            cells.append(f"{fmt(grade.points)}/{fmt(grade.max)}")
        table.add_row(submission.name, *row, *cells)
        flagged += [f"{submission.name} {r.exercise}: {r.tampered}" for r in submission.results if r.tampered]
    console = Console(highlight=False)
    console.print(table)
    console.print(LEGEND, markup=False)
    console.print("columns: " + ", ".join(f"{labels[e]} = {e.rsplit('/', 1)[-1]}" for e in ids if labels[e] != e), markup=False)
    if flagged:
        console.print("[bold red]⚠ the report of these runs was tampered with (graded as error; look at the code):[/]")
        for line in flagged:
            console.print(f"  {line}", markup=False)


def to_csv(submissions: list[Submission], worth: Worth, exercises: list[str], title: str, id_column: str) -> str:
    """The grade sheet an LMS imports (``course.grading.points.sheet_rows``)."""
    import csv
    import io

    from course.grading.points import grade_of, sheet_rows

    rows = sheet_rows(((s.name, grade_of(s.results, worth)) for s in submissions), exercises, title, id_column)
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


def write_reports(
    submissions: list[Submission],
    json_path: Path | None,
    junit_path: Path | None,
    worth: Worth | None = None,
    attempted: list[set[str]] | None = None,
) -> None:
    if json_path:
        json_path.write_text(json.dumps(to_json(submissions, worth, attempted), separators=(",", ":")), encoding="utf-8")
    if junit_path:
        junit_path.write_text(to_junit(submissions, worth), encoding="utf-8")


def worth_in(paths: list[Path]) -> Worth:
    """What each check was worth in the runs that wrote these results files (their lines carry
    it): the same points in a merge as in the runs."""
    worth: Worth = {}
    for path in paths:
        records, _ = _read(path)
        for record in records:
            if isinstance(record.get("worth"), dict):
                worth[record["exercise"]] = {str(k): float(v) for k, v in record["worth"].items()}
    return worth


def untouched_in(paths: list[Path]) -> set[tuple[str, str]]:
    """The (workspace, exercise) pairs whose folder was the untouched starter, or missing: not attempted."""
    found = set()
    for path in paths:
        records, _ = _read(path)
        latest = {(r["workspace"], r["exercise"]): r for r in records}
        found |= {key for key, record in latest.items() if record.get("untouched")}
    return found


def earlier_workspaces(path: Path) -> set[str]:
    """The submissions a results file holds results of (empty: no file, or an empty one)."""
    records, _ = _read(path)
    return {record["workspace"] for record in records}


# Sharded class grading: N jobs (a CI matrix) each grade a deterministic 1/N of the submissions
# into their own results file; `course grade merge` joins those files into one set of reports.


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` as ``(K, N)``, 1 <= K <= N; anything else is a one-line error."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        index = count = 0
    if count < 1 or not 1 <= index <= count:
        raise CourseError(
            f"--shard {text!r} is not K/N with 1 <= K <= N; fix: e.g. --shard 1/3, --shard 2/3 and --shard 3/3 for three jobs"
        )
    return index, count


def shard_of(workspace: Path, count: int) -> int:
    """The shard (1..count) a submission belongs to: a hash of its folder name (the student),
    so the split does not depend on the order, nor on the path, the folders are given in."""
    digest = hashlib.sha256(workspace.resolve().name.encode()).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def select_shard(workspaces: list[Path], index: int, count: int) -> list[Path]:
    return [path for path in workspaces if shard_of(path, count) == index]


def merge_parts(paths: list[Path], order: Sequence[str] = ()) -> list[Submission]:
    """The submissions held by the results files of a sharded run's jobs (``course grade
    --shard K/N --results PART``), students by name, exercises in ``order`` (the content's)
    then by id. A file that is not ours, a part cut short, two parts holding the same
    (student, exercise) or students graded on different exercises: a one-line error."""
    fix = "pass only the results files (--results) of `course grade --shard K/N` runs"
    owner: dict[tuple[str, str], Path] = {}
    latest: dict[tuple[str, str], dict] = {}
    seen: set[Path] = set()
    for path in paths:
        if path.resolve() in seen:
            raise ResultsFileError(f"the part {path} is given twice; fix: name each shard's results file once")
        seen.add(path.resolve())
        if not path.is_file():
            raise ResultsFileError(f"no results file {path}; fix: {fix}")
        records, complete = _read(path, fix)
        if complete != path.stat().st_size:
            raise ResultsFileError(
                f"{path} ends with a line cut short (its run was stopped); fix: finish that shard with "
                "the same `course grade --shard K/N` command and --resume, then merge again"
            )
        mine = {(record["workspace"], record["exercise"]): record for record in records}  # the newer line wins
        for key, record in mine.items():
            if key in owner:
                raise ResultsFileError(
                    f"{owner[key]} and {path} both hold {record['student']}'s {record['exercise']}; "
                    "fix: merge the parts of one sharded run (the same N, each K once)"
                )
            owner[key] = path
            latest[key] = record
    rank = {exercise: number for number, exercise in enumerate(order)}
    by_workspace: dict[str, list[dict]] = {}
    for (workspace, _), record in latest.items():
        by_workspace.setdefault(workspace, []).append(record)
    submissions = []
    expected = None
    for workspace in sorted(by_workspace, key=lambda w: (Path(w).name, w)):
        records = sorted(by_workspace[workspace], key=lambda r: (rank.get(r["exercise"], len(rank)), r["exercise"]))
        graded = [r["exercise"] for r in records]
        if expected is None:
            expected = (Path(workspace).name, graded)
        elif set(graded) != set(expected[1]):
            raise ResultsFileError(
                f"{Path(workspace).name} was graded on {len(graded)} exercise(s) and {expected[0]} on {len(expected[1])}; "
                "fix: grade every shard with the same --exercise options"
            )
        submissions.append(Submission(Path(workspace), [ExerciseResult.from_json(r["result"]) for r in records]))
    return submissions
