"""Guards of the architecture: a wrong name or a broken boundary fails here, not silently later."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from checker.process import warm
from course.grading import service


@pytest.mark.parametrize("name", sorted(set(warm.PRELOAD + warm.PRELOAD_WHEN_IDLE)))
def test_every_name_the_worker_preloads_imports(name):
    """A misspelt preload is skipped by the worker (only speed is at stake there): catch it here."""
    importlib.import_module(name)


def test_the_import_contracts_hold():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    assert lint, "import-linter is part of the test dependencies"
    result = subprocess.run([lint], capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2], encoding="utf-8")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_service_fingerprint_sees_a_change_in_any_subpackage(tmp_path):
    for name in ("checker/api.py", "course/cli/__init__.py", "course/tui/widgets/results.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("# code\n", encoding="utf-8")
    before = service.fingerprint(tmp_path)
    nested = tmp_path / "course" / "tui" / "widgets" / "results.py"
    stat = nested.stat()
    os.utime(nested, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert service.fingerprint(tmp_path) != before, "a stale service would be used after an edit below course/"
    (tmp_path / "course" / "tui" / "widgets" / "new.py").write_text("", encoding="utf-8")
    moved = service.fingerprint(tmp_path)
    (tmp_path / "course" / "tui" / "widgets" / "new.py").rename(tmp_path / "course" / "tui" / "new.py")
    assert service.fingerprint(tmp_path) != moved, "a moved module must change the fingerprint"
