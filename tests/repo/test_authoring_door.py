"""The check authors' door: shipped graders reach the engine only through ``checker.authoring``,
and every name the door exports exists and is documented in docs/authoring.md."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import checker.authoring

ROOT = Path(__file__).resolve().parents[2]
DOOR = "checker.authoring"
GRADERS = sorted(
    path
    for path in (ROOT / "exercises").rglob("*.py")
    if not {"starter", "solution", "mutants", "variants", "__pycache__"} & set(path.relative_to(ROOT).parts)
)


def engine_imports(source: str) -> list[tuple[int, str]]:
    """``(line, module)`` for every import of the ``checker`` package that does not go through the door."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        else:
            continue
        found += [(node.lineno, m) for m in modules if (m == "checker" or m.startswith("checker.")) and m != DOOR]
    return found


def test_graders_are_found():
    assert len([path for path in GRADERS if path.name == "checks.py"]) >= 13


@pytest.mark.parametrize("path", GRADERS, ids=lambda p: str(p.relative_to(ROOT / "exercises")))
def test_grader_imports_only_through_the_door(path):
    wrong = engine_imports(path.read_text(encoding="utf-8"))
    assert not wrong, (
        f"{path.relative_to(ROOT)} imports {', '.join(f'{m} (line {n})' for n, m in wrong)}: import from {DOOR} instead"
    )


@pytest.mark.parametrize(
    "source",
    [
        "from checker import check",
        "import checker.api",
        "from checker.authoring.migrations import compare",
        "def f():\n    from checker.process.fresh import run_fresh",
    ],
)
def test_the_guard_sees_a_side_door(source):
    assert engine_imports(source)


def test_the_guard_lets_the_door_through():
    assert engine_imports("from checker.authoring import check, migrations\nimport checker.authoring") == []


def test_every_exported_name_exists():
    missing = [name for name in checker.authoring.__all__ if not hasattr(checker.authoring, name)]
    assert not missing, f"checker.authoring.__all__ names what it does not define: {missing}"
    assert len(set(checker.authoring.__all__)) == len(checker.authoring.__all__)


def test_every_exported_name_is_documented():
    doc = (ROOT / "docs" / "authoring.md").read_text(encoding="utf-8")
    undocumented = [name for name in checker.authoring.__all__ if not re.search(rf"`{re.escape(name)}\b", doc)]
    assert not undocumented, f"docs/authoring.md does not mention {undocumented} (as `name`)"


def test_what_the_graders_import_is_exported():
    imported = set()
    for path in GRADERS:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == DOOR:
                imported |= {alias.name for alias in node.names}
    assert imported, "no grader imports from the door"
    assert imported <= set(checker.authoring.__all__), imported - set(checker.authoring.__all__)
