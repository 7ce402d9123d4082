"""``course grade``: grade many workspaces (one per student), in parallel, and report.

Each submission runs in its own database, as its own role without superuser rights, on a
server that requires passwords: one student's code cannot connect to another's database.
Reports: a summary table, JSON, and JUnit XML (one testcase per exercise per student).
"""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from checker.results import CheckResult, ExerciseResult
from course.content import Exercise


@dataclass
class Submission:
    workspace: Path
    results: list[ExerciseResult] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.workspace.name


def grade_workspaces(workspaces: list[Path], exercises: list[Exercise], databases, launcher, jobs: int = 2) -> list[Submission]:
    """Grade every exercise of every workspace; a missing exercise folder is an error result."""
    from checker.runner import grade
    from course.grading import job_for

    submissions = [Submission(path.resolve()) for path in workspaces]

    def one(pair: tuple[Submission, Exercise]) -> tuple[Submission, ExerciseResult]:
        submission, exercise = pair
        folder = submission.workspace / exercise.module_id / exercise.id
        if not folder.is_dir():
            missing = CheckResult("run", "error", f"no folder {exercise.module_id}/{exercise.id} in this workspace", title="Find the exercise")
            return submission, ExerciseResult(exercise.full_id, "error", 0.0, [missing])
        return submission, grade(job_for(exercise, folder), databases, launcher=launcher)

    pairs = [(s, e) for s in submissions for e in exercises]
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for submission, result in pool.map(one, pairs):
            submission.results.append(result)
    return submissions


def to_json(submissions: list[Submission]) -> dict:
    return {
        "graded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "students": [
            {
                "student": s.name,
                "workspace": str(s.workspace),
                "passed": sum(1 for r in s.results if r.passed),
                "total": len(s.results),
                "results": [r.to_json() for r in s.results],
            }
            for s in submissions
        ],
    }


def to_junit(submissions: list[Submission]) -> str:
    """JUnit XML: a testsuite per student, a testcase per exercise (classname = student)."""
    suites = ET.Element("testsuites", name="course")
    for submission in submissions:
        failures = sum(1 for r in submission.results if r.status == "fail")
        errors = sum(1 for r in submission.results if r.status == "error")
        suite = ET.SubElement(
            suites, "testsuite", name=submission.name, tests=str(len(submission.results)),
            failures=str(failures), errors=str(errors),
            time=f"{sum(r.duration_s for r in submission.results):.3f}",
        )
        for result in submission.results:
            case = ET.SubElement(suite, "testcase", classname=submission.name, name=result.exercise, time=f"{result.duration_s:.3f}")
            if result.status != "pass":
                bad = [c for c in result.checks if c.status != "pass"]
                summary = "; ".join(c.name for c in bad)
                element = ET.SubElement(case, "failure" if result.status == "fail" else "error",
                                        message=f"{len(bad)} check(s) not passing: {summary}", type=result.status)
                element.text = "\n\n".join(f"[{c.status}] {c.name}: {c.message}" for c in bad)
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def print_summary(submissions: list[Submission], exercises: list[Exercise]) -> None:
    from rich.console import Console
    from rich.table import Table

    marks = {"pass": "[green]✓[/]", "fail": "[red]✗[/]", "error": "[yellow]![/]"}
    table = Table(title="course grade", title_justify="left")
    table.add_column("student")
    for exercise in exercises:
        table.add_column(exercise.id.split("-", 1)[0], justify="center")
    table.add_column("passed", justify="right")
    for submission in submissions:
        by_id = {r.exercise: r for r in submission.results}
        row = [marks[by_id[e.full_id].status] for e in exercises]
        table.add_row(submission.name, *row, f"{sum(1 for r in submission.results if r.passed)}/{len(exercises)}")
    Console(highlight=False).print(table)


def write_reports(submissions: list[Submission], json_path: Path | None, junit_path: Path | None) -> None:
    if json_path:
        json_path.write_text(json.dumps(to_json(submissions), indent=2))
    if junit_path:
        junit_path.write_text(to_junit(submissions))
