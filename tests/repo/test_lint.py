"""The repository's own lint gates: every workflow file passes actionlint, the code passes ruff."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def workflow_files() -> list[Path]:
    """Every GitHub Actions workflow the repository ships: its own CI and the ones docs/ci/ offers to copy."""
    return sorted([*ROOT.glob(".github/workflows/*.yml"), *ROOT.glob("docs/ci/*.yml")])


def tool(name: str) -> str | None:
    """The executable `name` installed beside this interpreter (where pip puts a package's scripts), else on PATH."""
    scripts = Path(sysconfig.get_path("scripts"))
    return shutil.which(name, path=str(scripts)) or shutil.which(name)


def actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    exe = tool("actionlint")
    if exe is None:
        pytest.skip("actionlint is not installed (the test extras install it: pip install -e '.[test]')")
    return subprocess.run(
        [exe, "-no-color", *map(str, files)], cwd=ROOT, capture_output=True, text=True, encoding="utf-8", timeout=120
    )


def test_every_workflow_file_lints_clean():
    files = workflow_files()
    assert ROOT / ".github" / "workflows" / "ci.yml" in files
    assert ROOT / "docs" / "ci" / "grade-with-postgres.yml" in files
    result = actionlint(*files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_rejects_a_broken_workflow(tmp_path: Path):
    """The gate above can fail: a job with an unknown key and an undefined matrix value is reported."""
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "name: broken\non: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    step:\n      - run: echo ${{ matrix.python }}\n",
        encoding="utf-8",
    )
    result = actionlint(broken)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "broken.yml" in result.stdout
    assert "step" in result.stdout


def ruff(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args], cwd=cwd, capture_output=True, text=True, encoding="utf-8", timeout=120
    )


def test_ruff_finds_nothing_in_the_repository():
    """pyproject's [tool.ruff] rules hold everywhere (`ruff check` in the repository's root)."""
    result = ruff("check", "--no-cache", "--output-format", "concise", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_code_is_formatted_by_ruff():
    """`ruff format` has nothing to change (run it before committing; the pre-commit hook does)."""
    result = ruff("format", "--check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_uses_the_repository_configuration(tmp_path: Path):
    """The gate above can fail: an unused import and an unsorted import block are findings under that configuration."""
    bad = tmp_path / "bad.py"
    bad.write_text("import sys\nimport os\n\nprint(os.sep)\n", encoding="utf-8")
    result = ruff("check", "--no-cache", "--output-format", "concise", "--config", str(ROOT / "pyproject.toml"), str(bad))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "F401" in result.stdout
    assert "I001" in result.stdout


def test_mypy_finds_nothing_in_course_and_checker():
    """pyproject's [tool.mypy] holds: the annotations of both packages are checked, not only written."""
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr


def test_mypy_uses_the_repository_configuration(tmp_path: Path):
    """The gate above can fail: a wrong return type is a finding under that configuration."""
    bad = tmp_path / "bad.py"
    bad.write_text("def half(n: int) -> int:\n    return n / 2\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--config-file", str(ROOT / "pyproject.toml"), str(bad)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=300,
    )
    assert result.returncode == 1 and "return-value" in result.stdout, result.stdout + result.stderr


def test_the_pre_commit_hooks_are_the_suites_gates():
    """The pre-commit configuration is valid and runs the same gates as the suite and CI (ruff, import-linter, mypy)."""
    config = ROOT / ".pre-commit-config.yaml"
    result = subprocess.run(
        [sys.executable, "-m", "pre_commit", "validate-config", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    text = config.read_text(encoding="utf-8")
    for entry in ("entry: ruff check", "entry: ruff format", "entry: lint-imports", "entry: mypy", "entry: actionlint"):
        assert entry in text, f"{entry!r} missing from .pre-commit-config.yaml"
