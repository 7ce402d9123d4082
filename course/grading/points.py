"""Points: the one model every class-grading output uses (``course grade``'s summary, JSON, JUnit,
CSV and report; the Gradescope, PrairieLearn and GitHub Actions exports).

- A check is worth its weight: ``[weights]`` in the exercise's ``exercise.toml`` (check name =
  points), 1 point for every check it does not name.
- A check the untouched starter already passes is worth **nothing**: an empty or untouched
  submission scores 0. Which checks those are is found by grading the starter (the *baseline*):
  once per ``course grade`` run (cached in the state folder, keyed by the exercise's checks and
  starter files), and at export time for the autograders (the export carries it).
- An exercise's points are the worth of its checks that pass; a result whose report was not
  believed (tampered) scores 0. A student's points are the sum over the exercises graded.

:data:`Worth` (exercise → check → points) is what a results file line carries, so a merge of a
sharded run's parts computes the same points without grading anything again.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

from course.errors import CourseError

if TYPE_CHECKING:
    from checker.results import ExerciseResult
    from course.content.model import Exercise

Worth = dict[str, dict[str, float]]
"""Exercise full id → check name → the points that check is worth (0 for a starter-passed one)."""
Baseline = dict[str, list[str]]
"""Exercise full id → the checks its untouched starter passes."""
BASELINE_CACHE = "starter-baseline.json"
"""The cache of starter gradings in the state folder: ``{fingerprint: [check names]}``."""


class WeightsError(CourseError):
    """An exercise.toml whose ``[weights]`` cannot be used (exit 2 with the fix)."""


def declared_checks(exercise: Exercise) -> list[tuple[str, str]]:
    """The (name, title) of every ``@check("name", "title")`` in the exercise's checks.py, in
    order: the tests a grade lists even when the learner's code could not run at all."""
    tree = ast.parse(exercise.checks_file.read_text(encoding="utf-8"), str(exercise.checks_file))
    found: list[tuple[str, str]] = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            if (
                isinstance(decorator, ast.Call)
                and getattr(decorator.func, "id", None) == "check"
                and decorator.args
                and isinstance(decorator.args[0], ast.Constant)
            ):
                name = decorator.args[0].value
                title = decorator.args[1].value if len(decorator.args) > 1 and isinstance(decorator.args[1], ast.Constant) else ""
                # check(name: str, title: str = ""): the literals are strings in a checks.py that follows it
                found.append((cast(str, name), cast(str, title or name)))
    return found


def weights_of(exercise: Exercise) -> dict[str, float]:
    """Points per check as declared: ``[weights]`` in exercise.toml (check name = points); 1 for the rest."""
    meta = exercise.path / "exercise.toml"
    table = tomllib.loads(meta.read_text(encoding="utf-8")).get("weights", {})
    checks = declared_checks(exercise)
    names = {name for name, _ in checks}
    if not isinstance(table, dict):
        raise WeightsError(f"{meta}: [weights] must be a table of check name = points; fix: e.g. [weights] then email-unique = 2")
    for name, value in table.items():
        if name not in names:
            raise WeightsError(f"{meta}: [weights] names no check {name!r}; fix: use one of {', '.join(sorted(names))}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise WeightsError(f"{meta}: weight of {name!r} must be a number >= 0; fix: e.g. {name} = 2")
    return {name: float(table.get(name, 1)) for name, _ in checks}


def worth_of(exercise: Exercise, starter_passes: Iterable[str]) -> dict[str, float]:
    """What each check is worth in a grade: its weight, or 0 when the starter already passes it."""
    free = set(starter_passes)
    return {name: 0.0 if name in free else weight for name, weight in weights_of(exercise).items()}


def worth_for(exercises: Iterable[Exercise], baseline: Baseline) -> Worth:
    return {e.full_id: worth_of(e, baseline.get(e.full_id, ())) for e in exercises}


def check_points(name: str, status: str, worth: Mapping[str, float]) -> float:
    return worth.get(name, 0.0) if status == "pass" else 0.0


def exercise_points(result: ExerciseResult | None, worth: Mapping[str, float]) -> tuple[float, float]:
    """(points, max) of one result: the worth of its passing checks; a tampered result scores 0."""
    most = sum(worth.values())
    if result is None or result.tampered:
        return 0.0, most
    return sum(check_points(c.name, c.status, worth) for c in result.checks), most


@dataclass
class Grade:
    """One student's points: in total and per exercise (``exercises``: full id → (points, max))."""

    points: float = 0.0
    max: float = 0.0
    exercises: dict[str, tuple[float, float]] = field(default_factory=dict)


def grade_of(results: Iterable[ExerciseResult], worth: Worth) -> Grade:
    grade = Grade()
    for result in results:
        points, most = exercise_points(result, worth.get(result.exercise, {}))
        grade.exercises[result.exercise] = (points, most)
        grade.points += points
        grade.max += most
    return grade


def fmt(points: float) -> str:
    """Points as people write them: ``3``, ``2.5``."""
    return f"{round(points, 2):g}"


# The starter baseline.


def starter_baseline(
    exercises: Iterable[Exercise],
    grade: Callable[[Exercise, Path], ExerciseResult],
    cache: Path | None = None,
    jobs: int = 1,
) -> Baseline:
    """The checks each exercise's untouched starter passes: graded with ``grade(exercise,
    folder)`` on a copy of the starter (``jobs`` at a time), unless ``cache`` (a JSON file)
    already holds that exercise's answer for the same checks and starter files."""
    import tempfile
    from concurrent.futures import ThreadPoolExecutor

    from course.grading.classgrade import fingerprint
    from course.grading.session import materialised

    known: dict[str, list[str]] = {}
    if cache is not None:
        try:
            loaded = json.loads(cache.read_text(encoding="utf-8"))
            known = {k: [str(n) for n in v] for k, v in loaded.items() if isinstance(v, list)} if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            known = {}

    # the starters, laid out as one workspace (their runs may share an interpreter: the course's own code)
    scratch = Path(tempfile.mkdtemp(prefix="course-starters-"))

    def passed(exercise: Exercise) -> list[str]:
        with materialised(exercise, "starter", scratch) as folder:
            result = grade(exercise, folder)
        return [c.name for c in result.checks if c.status == "pass" and not result.tampered]

    keyed = [(exercise, fingerprint(exercise.starter_dir, exercise)) for exercise in exercises]
    todo = list({key: exercise for exercise, key in keyed if key not in known}.items())
    try:
        with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(todo) or 1))) as pool:
            for (key, _exercise), names in zip(todo, pool.map(lambda item: passed(item[1]), todo), strict=True):
                known[key] = names
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    changed = bool(todo)
    baseline: Baseline = {exercise.full_id: known[key] for exercise, key in keyed}
    if cache is not None and changed:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            temporary = cache.with_name(f".{cache.name}.{os.getpid()}")
            temporary.write_text(json.dumps(known, indent=1) + "\n", encoding="utf-8")
            os.replace(temporary, cache)
        except OSError:
            pass  # a cache that cannot be written only costs a grading next time
    return baseline


def read_baseline(path: Path) -> Baseline:
    """A baseline an export recorded (``{"exercise full id": [check names]}``); one-line error if not."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
            raise ValueError("not an object of lists")
    except (OSError, ValueError) as error:
        raise WeightsError(
            f"cannot read the starter baseline {path} ({error}); fix: pass the file an export wrote, or leave the option out"
        ) from None
    return {str(k): [str(n) for n in v] for k, v in data.items()}


# The grade sheet (CSV) an LMS imports.

CSV_ID_COLUMNS = ("SIS Login ID", "SIS User ID", "ID")
"""Which Canvas column the students' folder names fill (``--csv-id``); Moodle maps any of them."""


def sheet_rows(
    grades: Iterable[tuple[str, Grade]], exercises: list[str], title: str, id_column: str = "SIS Login ID"
) -> list[list[str]]:
    """The grade sheet: a header and one row per student, in the shape of Canvas's gradebook
    import (``Student, ID, SIS User ID, SIS Login ID, Section``, then one column per assignment,
    named ``<title>`` for the total and ``<title>: <exercise>`` for each exercise). The student's
    folder name fills ``Student`` and ``id_column``; Moodle's "Import grades from CSV" maps that
    column to a user field (username, ID number or email) and each points column to a grade item."""
    if id_column not in CSV_ID_COLUMNS:
        raise WeightsError(f"--csv-id {id_column!r} is not a column of the sheet; fix: use one of {', '.join(CSV_ID_COLUMNS)}")
    fixed = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    labels = short_labels(exercises)
    rows = [[*fixed, title, *(f"{title}: {labels[e]}" for e in exercises)]]
    for name, grade in grades:
        row = ["" for _ in fixed]
        row[0] = name
        row[fixed.index(id_column)] = name
        rows.append([*row, fmt(grade.points), *(fmt(grade.exercises.get(e, (0.0, 0.0))[0]) for e in exercises)])
    return rows


def points_possible_row(grades: Iterable[Grade], exercises: list[str]) -> list[str]:
    """Canvas's optional "Points Possible" row (the max of each column)."""
    first = next(iter(grades), Grade())
    return ["Points Possible", "", "", "", "", fmt(first.max), *(fmt(first.exercises.get(e, (0.0, 0.0))[1]) for e in exercises)]


def short_labels(exercises: Iterable[str]) -> dict[str, str]:
    """The shortest unique label of each exercise: its number (``05``) when no other exercise
    shares it, else the shortest prefix of its id that no other has (``07-m`` for
    ``07-migrations`` beside ``07-r`` for ``07-rename-migration``); the whole full id when two
    modules share an exercise id."""
    ids = list(dict.fromkeys(exercises))
    tails = {e: e.rsplit("/", 1)[-1] for e in ids}
    labels = {}
    for e in ids:
        tail = tails[e]
        number = tail.split("-", 1)[0]
        others = [tails[o] for o in ids if o != e]
        if not any(o.split("-", 1)[0] == number for o in others):
            labels[e] = number
        elif tail in others:
            labels[e] = e
        else:
            size = len(number) + 2
            while any(o.startswith(tail[:size]) for o in others) and size < len(tail):
                size += 1
            labels[e] = tail[:size]
    return labels
