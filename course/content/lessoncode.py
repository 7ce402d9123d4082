"""Run a lesson's Python code blocks, the way ``course validate`` and the test suite check them.

Convention: a lesson's ```python blocks run in order in one namespace, in an empty folder on
``sys.path``, with ``DATABASE_URL`` set to a fresh database. A block whose first line is
``# file: name.py`` is written to that file instead (later blocks import it); ```python norun
blocks are not run. A lesson that builds on a file it does not repeat names it in a comment the
reader does not see, ``<!-- file: models.py = exercises/<module>/<exercise>/starter/models.py -->``
(a path in the content root): that file is written there at that point, like a ``# file:`` block.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

FENCE = re.compile(r"^```(\S*)([^\n]*)\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
FILE_FROM = re.compile(r"^<!--\s*file:\s*(\S+\.py)\s*=\s*(\S+)\s*-->\s*$", re.MULTILINE)

_RUNNER = r"""
import json, os, sys
blocks = json.loads(sys.stdin.read())
os.chdir(sys.argv[1]); sys.path.insert(0, sys.argv[1])
namespace = {"__name__": "__lesson__"}
for kind, line, body in blocks:
    if kind == "file":
        name, code = body
        with open(name, "w") as handle:
            handle.write(code)
        continue
    try:
        exec(compile(body, f"<line {line}>", "exec"), namespace)
    except BaseException as error:
        print(json.dumps({"line": line, "error": f"{type(error).__name__}: {error}"}), file=sys.stderr)
        sys.exit(1)
"""


def python_blocks(text: str, root: Path | None = None) -> list[tuple[str, int, object]]:
    """``(kind, line, body)`` for each runnable block; kind is ``file`` or ``code``.

    ``root``: the content root that ``<!-- file: ... = path -->`` paths are relative to.
    """
    blocks: list[tuple[str, int, object]] = []
    if root is not None:
        for match in FILE_FROM.finditer(text):
            line, source = text.count("\n", 0, match.start()) + 1, root / match.group(2)
            if source.is_file():
                blocks.append(("file", line, [match.group(1), source.read_text(encoding="utf-8")]))
            else:  # reported like any failing block, with its line
                blocks.append(("code", line, f"raise FileNotFoundError({str(source)!r})"))
    for match in FENCE.finditer(text):
        language, options, code = match.groups()
        if language != "python" or "norun" in options.split():
            continue
        line = text.count("\n", 0, match.start()) + 2
        first = code.splitlines()[0] if code.strip() else ""
        named = re.match(r"#\s*file:\s*(\S+\.py)", first)
        blocks.append(("file", line, [named.group(1), code]) if named else ("code", line, code))
    return sorted(blocks, key=lambda block: block[1])


def run_lesson(path: Path, database_url: str, timeout: float = 120) -> tuple[int, str] | None:
    """Run the lesson's blocks; ``None`` when all ran, else ``(line, error)`` of the first failure."""
    blocks = python_blocks(path.read_text(encoding="utf-8"), path.parents[2])
    if not blocks:
        return None
    with tempfile.TemporaryDirectory(prefix="course-lesson-") as scratch:
        try:
            result = subprocess.run(
                [sys.executable, "-c", _RUNNER, scratch],
                input=json.dumps(blocks),
                capture_output=True,
                text=True,
                timeout=timeout,
                env={"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"},
                encoding="utf-8",
            )
        except subprocess.TimeoutExpired:
            return blocks[0][1], f"the lesson's code did not finish within {timeout:.0f} s"
    if result.returncode == 0:
        return None
    for line in reversed(result.stderr.strip().splitlines()):
        try:
            report = json.loads(line)
            return report["line"], report["error"]
        except (ValueError, KeyError):
            continue
    return blocks[0][1], result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "crashed"
