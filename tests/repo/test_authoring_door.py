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
SHARED = "checker.authoring.shared"
"""The door to a module's own helpers (exercises/<module>/_shared/helpers.py)."""
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
        found += [(node.lineno, m) for m in modules if (m == "checker" or m.startswith("checker.")) and m not in (DOOR, SHARED)]
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
    assert engine_imports("from checker.authoring.shared import seed") == []


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


def test_the_builtin_course_helpers_live_in_its_content():
    """The DocChat helpers are the built-in course's, in its _shared/helpers.py; the graders import
    them through checker.authoring.shared, and every name they import is defined there."""
    helpers = ROOT / "exercises" / "sqlalchemy-2" / "_shared" / "helpers.py"
    defined = {node.name for node in ast.parse(helpers.read_text(encoding="utf-8")).body if isinstance(node, ast.FunctionDef)}
    imported = set()
    for path in GRADERS:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == SHARED:
                imported |= {alias.name for alias in node.names}
    assert {"seed", "configured_models", "learner_engine"} <= imported
    assert imported <= defined, imported - defined


def test_the_old_docchat_names_still_import_with_a_deprecation_warning():
    with pytest.warns(DeprecationWarning, match="_shared/helpers.py"):
        from checker.authoring import seed
    assert callable(seed)
    with pytest.raises(AttributeError):
        checker.authoring.no_such_name  # noqa: B018


def test_module_helpers_are_found_from_the_importing_checks(tmp_path):
    """Two modules' helpers never mix: each checks.py gets its own module's _shared/helpers.py."""
    import subprocess
    import sys

    for module, value in (("one", 1), ("two", 2)):
        (tmp_path / module / "_shared").mkdir(parents=True)
        (tmp_path / module / "_shared" / "helpers.py").write_text(f"VALUE = {value}\n", encoding="utf-8")
        (tmp_path / module / "01-x").mkdir()
        (tmp_path / module / "01-x" / "checks.py").write_text(
            "from checker.authoring.shared import VALUE\nfrom checker.authoring import module_helpers\n"
            "assert module_helpers().VALUE == VALUE\nprint(VALUE)\n",
            encoding="utf-8",
        )
    script = "import runpy, sys\nfor path in sys.argv[1:]:\n    runpy.run_path(path)\n"
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            str(tmp_path / "one" / "01-x" / "checks.py"),
            str(tmp_path / "two" / "01-x" / "checks.py"),
        ],
        capture_output=True,
        text=True,
        encoding="utf-8",
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["1", "2"]
    (tmp_path / "two" / "01-x" / "checks.py").write_text("from checker.authoring.shared import MISSING\n", encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "two" / "01-x" / "checks.py")],
        capture_output=True,
        text=True,
        encoding="utf-8",
    )
    assert "defines no 'MISSING'" in run.stderr
