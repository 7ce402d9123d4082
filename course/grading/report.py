"""The class report of ``course grade --report`` / ``course grade merge --report``: one HTML file,
self-contained (styles and SVG charts inline, no script, nothing fetched when it is opened).

Charts are drawn by pygal, as SVG, with its tooltip script left out.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
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


def anonymise(submissions: list, key: bytes | None = None) -> list:
    """Copies of ``submissions`` named by pseudonym; the student's name and folder are also
    replaced wherever their own results mention them (paths in messages, tracebacks)."""
    from course.grading.classgrade import Submission

    names = pseudonyms([s.name for s in submissions], key)
    hidden = []
    for submission in submissions:
        alias = names[submission.name]
        results = []
        for result in submission.results:
            text = json.dumps(result.to_json()).replace(json.dumps(str(submission.workspace))[1:-1], alias)
            if len(submission.name) >= 3:
                text = text.replace(submission.name, alias)
            results.append(ExerciseResult.from_json(json.loads(text)))
        hidden.append(Submission(Path(alias), results))
    return hidden


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


def render(submissions: list, title: str = "course grade — class report") -> str:
    """The report as one HTML document."""
    import pygal

    exercises: list[str] = []
    for submission in submissions:
        for result in submission.results:
            if result.exercise not in exercises:
                exercises.append(result.exercise)
    short = {e: e.rsplit("/", 1)[-1] for e in exercises}
    students = len(submissions)
    per_exercise = {e: [r for s in submissions for r in s.results if r.exercise == e] for e in exercises}
    rate = {e: 100 * sum(r.passed for r in rs) / len(rs) if rs else 0 for e, rs in per_exercise.items()}

    bars = _chart(
        pygal.HorizontalBar,
        "Pass rate per exercise (%)",
        range=(0, 100),
        print_values=True,
        value_formatter=lambda v: f"{v:.0f} %",
    )
    bars.x_labels = [short[e] for e in exercises]
    bars.add("passed", [round(rate[e], 1) for e in exercises])

    scores = Counter(sum(r.passed for r in s.results) for s in submissions)
    histogram = _chart(pygal.Bar, "Score distribution (students per exercises passed)", print_values=True)
    histogram.x_labels = [str(n) for n in range(len(exercises) + 1)]
    histogram.add("students", [scores.get(n, 0) for n in range(len(exercises) + 1)])
    most = max(scores.values(), default=0)
    histogram.y_labels = list(range(0, most + 1, max(1, most // 10)))  # whole students

    times = _chart(pygal.Box, "Time per exercise (s)", box_mode="tukey")
    for e in exercises:
        times.add(short[e], [round(r.duration_s, 2) for r in per_exercise[e]] or [0])
    times.show_legend = True
    times.legend_at_bottom = True

    check_rows = []
    failing: Counter[tuple[str, str]] = Counter()
    messages: dict[tuple[str, str], Counter] = {}
    for e in exercises:
        names: list[str] = []
        counts: dict[str, list[int]] = {}
        titles: dict[str, str] = {}
        for result in per_exercise[e]:
            for check in result.checks:
                if check.name not in counts:
                    names.append(check.name)
                    counts[check.name] = [0, 0]
                titles[check.name] = check.title or check.name
                counts[check.name][1] += 1
                if check.status == "pass":
                    counts[check.name][0] += 1
                else:
                    failing[(e, check.name)] += 1
                    lines = [line.strip() for line in (check.message or "").splitlines() if line.strip()]
                    first = " ".join(lines[:2])
                    first = (first[:300] + "…" if len(first) > 300 else first) or check.status
                    messages.setdefault((e, check.name), Counter())[first] += 1
        for name in names:
            passed, seen = counts[name]
            check_rows.append((short[e], name, titles[name], passed, seen))

    out = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    total = sum(len(s.results) for s in submissions)
    passed_total = sum(r.passed for s in submissions for r in s.results)
    median = statistics.median([sum(r.passed for r in s.results) for s in submissions]) if submissions else 0
    out.append(
        f"<p class='lead'>{students} student(s), {len(exercises)} exercise(s): {passed_total} of {total} results pass "
        f"({100 * passed_total / total if total else 0:.0f} %); median score {median:g}/{len(exercises)}.</p>"
    )
    out.append("<div class='charts'>")
    for chart in (bars, histogram, times):
        svg = re.sub(r"<script\b.*?</script>", "", chart.render(is_unicode=True), flags=re.S)  # pygal's tooltip config
        out.append(f"<div class='chart'>{svg}</div>")
    out.append("</div>")

    out.append(
        "<h2>Most common failing checks</h2><table><tr><th>exercise</th><th>check</th><th class='num'>students failing</th><th>most common message</th></tr>"
    )
    for (e, name), count in failing.most_common(10):
        message, _ = messages[(e, name)].most_common(1)[0]
        out.append(
            f"<tr><td>{html.escape(short[e])}</td><td>{html.escape(name)}</td><td class='num'>{count}</td>"
            f"<td>{html.escape(message)}</td></tr>"
        )
    if not failing:
        out.append("<tr><td colspan='4'>No check failed.</td></tr>")
    out.append("</table>")

    out.append(
        "<h2>Pass rate per check</h2><table><tr><th>exercise</th><th>check</th><th class='num'>passed</th><th class='num'>rate</th></tr>"
    )
    for e, name, check_title, passed, seen in check_rows:
        out.append(
            f"<tr><td>{html.escape(e)}</td><td title='{html.escape(check_title)}'>{html.escape(name)}</td>"
            f"<td class='num'>{passed}/{seen}</td><td class='num'>{100 * passed / seen:.0f} %</td></tr>"
        )
    out.append("</table>")

    out.append(
        "<h2>Students</h2><table><tr><th>student</th>"
        + "".join(f"<th>{html.escape(short[e].split('-', 1)[0])}</th>" for e in exercises)
        + "<th class='num'>passed</th></tr>"
    )
    anchors = {}
    for number, submission in enumerate(submissions):
        anchors[id(submission)] = f"student-{number}"
        by_id = {r.exercise: r for r in submission.results}
        cells = "".join(
            f"<td class='{by_id[e].status}'>{MARK[by_id[e].status]}</td>" if e in by_id else "<td></td>" for e in exercises
        )
        out.append(
            f"<tr><td><a href='#student-{number}'>{html.escape(submission.name)}</a></td>{cells}"
            f"<td class='num'>{sum(r.passed for r in submission.results)}/{len(submission.results)}</td></tr>"
        )
    out.append("</table>")

    out.append("<h2>Details</h2>")
    for submission in submissions:
        out.append(f"<section class='student' id='{anchors[id(submission)]}'><h3>{html.escape(submission.name)}</h3>")
        bad = [r for r in submission.results if r.status != "pass"]
        if not bad:
            out.append("<p class='pass'>Every exercise passes.</p>")
        for result in bad:
            out.append(
                f"<details open><summary class='{result.status}'>{html.escape(short.get(result.exercise, result.exercise))}: "
                f"{result.status}{' — tampered: ' + html.escape(result.tampered) if result.tampered else ''}</summary>"
            )
            for check in result.checks:
                if check.status == "pass":
                    continue
                out.append(f"<p><b class='{check.status}'>{html.escape(check.name)}</b> {html.escape(check.title)}</p>")
                if check.message:
                    out.append(f"<pre>{html.escape(check.message)}</pre>")
                sql = [s.sql for s in check.statements] or check.sql
                if sql:
                    out.append("<pre>" + html.escape("\n".join(f"{n:>3}. {s}" for n, s in enumerate(sql, 1))) + "</pre>")
            out.append("</details>")
        out.append("</section>")
    out.append("</body></html>\n")
    return "\n".join(out)


def write(submissions: list, path: Path) -> None:
    path.write_text(render(submissions), encoding="utf-8")
