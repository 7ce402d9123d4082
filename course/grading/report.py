"""The class report of ``course grade --report`` / ``course grade merge --report``: one HTML file,
self-contained (styles and SVG charts inline, no script, nothing fetched when it is opened).

Charts are drawn by pygal, as SVG, with its tooltip script left out.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import os
import re
import secrets
import statistics
from collections import Counter
from pathlib import Path

from checker.results import ExerciseResult

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #1d2330; padding: 0 1rem; }
h1 { margin-bottom: .2rem; } .lead { color: #566; margin-top: 0; }
.charts { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
.chart { border: 1px solid #dde; border-radius: 6px; padding: .4rem; background: #fff; }
.chart svg { width: 100%; height: auto; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1.5rem; }
th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid #e4e6eb; vertical-align: top; }
th { background: #f3f5f8; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.pass { color: #137333; } .fail { color: #b3261e; } .error { color: #a15c00; }
pre { background: #f6f8fa; padding: .5rem; overflow-x: auto; font-size: 13px; white-space: pre-wrap; }
details { margin: .3rem 0; } summary { cursor: pointer; font-weight: 600; }
section.student { border-top: 2px solid #e4e6eb; margin-top: 1rem; }
"""
MARK = {"pass": "✓", "fail": "✗", "error": "!"}


def pseudonyms(names: list[str], key: bytes | None = None) -> dict[str, str]:
    """Stable pseudonyms: the same student gets the same one in every report made with the
    same key (``COURSE_ANONYMISE_KEY``, else a key kept in the state folder). Without the key, a
    pseudonym cannot be traced back, even by someone holding the class list."""
    key = key or anonymise_key()
    return {name: "student-" + hmac.new(key, name.encode(), hashlib.sha256).hexdigest()[:8] for name in names}


def anonymise_key() -> bytes:
    if os.environ.get("COURSE_ANONYMISE_KEY"):
        return os.environ["COURSE_ANONYMISE_KEY"].encode()
    from course import locations

    path = locations.state_dir() / "anonymise.key"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_hex(32).encode()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes()
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        return key


SCRUBBED = ("message", "output", "title", "sql", "location", "note", "tampered")
"""The fields of a result a student's code controls (what it printed, raised, sent): scrubbed.
Ids, statuses and check names are the course's, never rewritten."""


def anonymise(submissions: list, key: bytes | None = None) -> list:
    """Copies of ``submissions`` named by pseudonym. In the text a student's code controls
    (messages, output, SQL, tracebacks) their folder's path and name are replaced, in any
    case and also reversed; a name shorter than 3 characters only as a whole word.

    Not promised: a name the code encodes (base64, hex, split across lines, spelled out), or
    another student's name; the report is for sharing statistics, not for publishing output."""
    from course.grading.classgrade import Submission

    names = pseudonyms([s.name for s in submissions], key)
    hidden = []
    for submission in submissions:
        alias = names[submission.name]
        forms = {str(submission.workspace), submission.name, submission.name[::-1]}
        parts = []
        for form in sorted(forms, key=len, reverse=True):
            if not form.strip():
                continue
            pattern = re.escape(form)
            parts.append(pattern if len(form) >= 3 else rf"(?<![A-Za-z0-9]){pattern}(?![A-Za-z0-9])")
        scrub = re.compile("|".join(parts), re.IGNORECASE) if parts else None
        results = []
        for result in submission.results:
            data = result.to_wire()
            if scrub is not None:
                data = _scrubbed(data, scrub, alias)
            results.append(ExerciseResult.from_json(data))
        hidden.append(Submission(Path(alias), results))
    return hidden


def _scrubbed(value, pattern: re.Pattern, alias: str, field: str = ""):
    if isinstance(value, dict):
        return {k: _scrubbed(v, pattern, alias, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrubbed(v, pattern, alias, field) for v in value]
    if isinstance(value, str) and field in SCRUBBED:
        return pattern.sub(alias, value)
    return value


def _chart(kind, title: str, **options):
    from pygal.style import Style

    style = Style(
        background="white",
        plot_background="white",
        foreground="#1d2330",
        foreground_strong="#1d2330",
        foreground_subtle="#8892a0",
        colors=("#2e7d32", "#c62828", "#ef6c00", "#1565c0"),
        font_family="system-ui, sans-serif",
        title_font_size=16,
        label_font_size=12,
        major_label_font_size=12,
    )
    return kind(
        title=title, style=style, js=[], disable_xml_declaration=True, width=520, height=320, show_legend=False, **options
    )


MESSAGE_CAP = 240
"""Characters of a failing check's message kept per student (the JSON holds it whole)."""


def _first_lines(text: str, cap: int = MESSAGE_CAP) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    first = " ".join(lines[:3])
    return first[:cap] + "…" if len(first) > cap else first


def render(
    submissions: list,
    worth: dict[str, dict[str, float]] | None = None,
    attempted: list[set[str]] | None = None,
    title: str = "course grade — class report",
) -> str:
    """The report as one HTML document. ``worth``: what each check is worth (the points model);
    ``attempted``: per submission (same order), the exercises it changed from the starter
    (default: all). Its size grows linearly with the students: the charts do not grow, and each
    student's details are a closed ``<details>`` with each failing check's first lines."""
    import pygal

    from course.grading.points import exercise_points, fmt, grade_of, short_labels

    worth = worth or {}
    attempted = attempted if attempted is not None else [{r.exercise for r in s.results} for s in submissions]
    exercises: list[str] = []
    for submission in submissions:
        for result in submission.results:
            if result.exercise not in exercises:
                exercises.append(result.exercise)
    label = short_labels(exercises)
    students = len(submissions)
    grades = [grade_of(s.results, worth) for s in submissions]
    per_exercise = {e: [r for s in submissions for r in s.results if r.exercise == e] for e in exercises}
    tried = {
        e: [r for s, done in zip(submissions, attempted, strict=True) for r in s.results if r.exercise == e and e in done]
        for e in exercises
    }
    rate = {e: 100 * sum(r.passed for r in rs) / len(rs) if rs else 0 for e, rs in per_exercise.items()}
    most = max((g.max for g in grades), default=0.0)

    bars = _chart(
        pygal.HorizontalBar,
        "Pass rate per exercise (%)",
        range=(0, 100),
        print_values=True,
        print_zeroes=False,
        truncate_label=-1,
        value_formatter=lambda v: f"{v:.0f} %" if v else "0",  # pygal leaves out a value written "0"
    )
    bars.x_labels = [label[e] for e in exercises]
    bars.add("passed", [round(rate[e], 1) for e in exercises])

    bins = _bins(most)
    counts = [0] * len(bins)
    for grade in grades:
        counts[next((n for n, (low, high) in enumerate(bins) if grade.points <= high), len(bins) - 1)] += 1
    histogram = _chart(pygal.Bar, "Points distribution (students)", print_values=True, print_zeroes=False, truncate_label=-1)
    histogram.x_labels = [fmt(high) if low == high else f"{fmt(low)}–{fmt(high)}" for low, high in bins]
    histogram.add("students", counts)
    top = max(counts, default=0)
    histogram.y_labels = list(range(0, top + 1, max(1, top // 10)))  # whole students

    times = _chart(pygal.Bar, "Median time per exercise (s)", print_values=True, print_zeroes=False, truncate_label=-1)
    times.x_labels = [label[e] for e in exercises]
    times.add(
        "median",
        [round(statistics.median([r.duration_s for r in per_exercise[e]]), 1) if per_exercise[e] else 0 for e in exercises],
    )
    times.value_formatter = lambda v: f"{v:g}" if v else "0"

    check_rows = []
    failing: Counter[tuple[str, str]] = Counter()
    messages: dict[tuple[str, str], Counter] = {}
    for e in exercises:
        names: list[str] = []
        counts_by: dict[str, list[int]] = {}
        titles: dict[str, str] = {}
        for result in per_exercise[e]:
            for check in result.checks:
                if check.name not in counts_by:
                    names.append(check.name)
                    counts_by[check.name] = [0, 0]
                titles[check.name] = check.title or check.name
                counts_by[check.name][1] += 1
                counts_by[check.name][0] += check.status == "pass"
        for result in tried[e]:
            for check in result.checks:
                if check.status != "pass":
                    failing[(e, check.name)] += 1
                    messages.setdefault((e, check.name), Counter())[_first_lines(check.message, 300) or check.status] += 1
        for name in names:
            passed, seen = counts_by[name]
            check_rows.append((e, name, titles[name], passed, seen, worth.get(e, {}).get(name)))
    common = {key: counter.most_common(1)[0][0] for key, counter in messages.items()}

    out = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    total = sum(len(s.results) for s in submissions)
    passed_total = sum(r.passed for s in submissions for r in s.results)
    median = statistics.median([g.points for g in grades]) if grades else 0
    out.append(
        f"<p class='lead'>{students} student(s), {len(exercises)} exercise(s): {passed_total} of {total} results pass "
        f"({100 * passed_total / total if total else 0:.0f} %); median {fmt(median)} of {fmt(most)} points. "
        "Checks the untouched starter passes are worth 0 points.</p>"
    )
    out.append("<div class='charts'>")
    for chart in (bars, histogram, times):
        svg = re.sub(r"<script\b.*?</script>", "", chart.render(is_unicode=True), flags=re.S)  # pygal's tooltip config
        out.append(f"<div class='chart'>{svg}</div>")
    out.append("</div>")

    out.append(
        "<h2>Exercises</h2><table><tr><th>label</th><th>exercise</th><th class='num'>points</th>"
        "<th class='num'>attempted</th><th class='num'>passed</th><th class='num'>mean points</th></tr>"
    )
    for e in exercises:
        scored = [exercise_points(r, worth.get(e, {})) for r in per_exercise[e]]
        mean = statistics.fmean(p for p, _ in scored) if scored else 0.0
        out.append(
            f"<tr><td>{html.escape(label[e])}</td><td>{html.escape(e)}</td><td class='num'>{fmt(sum(worth.get(e, {}).values()))}</td>"
            f"<td class='num'>{len(tried[e])}/{len(per_exercise[e])}</td>"
            f"<td class='num'>{sum(r.passed for r in per_exercise[e])}</td><td class='num'>{fmt(mean)}</td></tr>"
        )
    out.append("</table>")

    out.append(
        "<h2>Most common failing checks</h2><p class='lead'>Among the exercises students attempted "
        "(an untouched starter is not attempted).</p><table><tr><th>exercise</th><th>check</th>"
        "<th class='num'>students failing</th><th>most common message</th></tr>"
    )
    for (e, name), count in failing.most_common(10):
        message = common[(e, name)]
        out.append(
            f"<tr><td>{html.escape(label[e])}</td><td>{html.escape(name)}</td><td class='num'>{count}</td>"
            f"<td>{html.escape(message)}</td></tr>"
        )
    if not failing:
        out.append("<tr><td colspan='4'>No check failed in an attempted exercise.</td></tr>")
    out.append("</table>")

    out.append(
        "<h2>Pass rate per check</h2><table><tr><th>exercise</th><th>check</th><th class='num'>points</th>"
        "<th class='num'>passed</th><th class='num'>rate</th><th>most common message when it fails</th></tr>"
    )
    for e, name, check_title, passed, seen, points in check_rows:
        out.append(
            f"<tr><td>{html.escape(label[e])}</td><td title='{html.escape(check_title)}'>{html.escape(name)}</td>"
            f"<td class='num'>{'' if points is None else fmt(points)}</td>"
            f"<td class='num'>{passed}/{seen}</td><td class='num'>{100 * passed / seen:.0f} %</td>"
            f"<td>{html.escape(common.get((e, name), ''))}</td></tr>"
        )
    out.append("</table>")

    out.append(
        "<h2>Students</h2><p class='lead'>✓ passes, ✗ a check fails, ! error, · not attempted; "
        "each cell holds the exercise's points.</p><table><tr><th>student</th>"
        + "".join(f"<th title='{html.escape(e)}'>{html.escape(label[e])}</th>" for e in exercises)
        + "<th class='num'>points</th></tr>"
    )
    for number, (submission, grade, done) in enumerate(zip(submissions, grades, attempted, strict=True)):
        by_id = {r.exercise: r for r in submission.results}
        cells = []
        for e in exercises:
            result = by_id.get(e)
            if result is None:
                cells.append("<td></td>")
                continue
            mark = MARK[result.status] if e in done else "·"
            cells.append(f"<td class='{result.status}'>{mark} {fmt(grade.exercises[e][0])}</td>")
        out.append(
            f"<tr><td><a href='#s{number}'>{html.escape(submission.name)}</a></td>{''.join(cells)}"
            f"<td class='num'>{fmt(grade.points)}/{fmt(grade.max)}</td></tr>"
        )
    out.append("</table>")

    out.append(
        "<h2>Details</h2><p class='lead'>Each failing check, with its message when it is not the most common one "
        "(in the table above); the JSON report holds every message whole.</p>"
    )
    for number, (submission, grade, done) in enumerate(zip(submissions, grades, attempted, strict=True)):
        bad = [r for r in submission.results if r.status != "pass" and r.exercise in done]
        skipped = [label[r.exercise] for r in submission.results if r.exercise not in done]
        out.append(
            f"<details id='s{number}'><summary>{html.escape(submission.name)}: {fmt(grade.points)}/{fmt(grade.max)} points</summary>"
        )
        if skipped:
            out.append(f"<p>Not attempted: {html.escape(', '.join(skipped))}</p>")
        if not bad and not skipped:
            out.append("<p class='pass'>Every exercise passes.</p>")
        for result in bad:
            items = "".join(
                f"<li><b class='{c.status}'>{html.escape(c.name)}</b> {_unless_common(c, common.get((result.exercise, c.name)))}</li>"
                for c in result.checks
                if c.status != "pass"
            )
            tampered = f" — tampered: {html.escape(result.tampered)}" if result.tampered else ""
            out.append(
                f"<p class='{result.status}'>{html.escape(label[result.exercise])}: {result.status}{tampered}</p><ul>{items}</ul>"
            )
        out.append("</details>")
    out.append("</body></html>\n")
    return "\n".join(out)


def _unless_common(check, common: str | None) -> str:
    said = _first_lines(check.message, 300) or check.status
    return "" if said == common else html.escape(_first_lines(check.message))


def _bins(most: float) -> list[tuple[float, float]]:
    """At most 11 bins of points from 0 to ``most``: one per point when that few, else ranges."""
    if most <= 10:
        return [(float(n), float(n)) for n in range(int(most) + 1)] or [(0.0, 0.0)]
    width = most / 10
    return [(0.0, 0.0)] + [(round(width * n, 2), round(width * (n + 1), 2)) for n in range(10)]


def write(
    submissions: list, path: Path, worth: dict[str, dict[str, float]] | None = None, attempted: list[set[str]] | None = None
) -> None:
    path.write_text(render(submissions, worth, attempted), encoding="utf-8")
