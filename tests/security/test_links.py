"""Links are never followed (issue 22, point 3): `course reset` moves a linked exercise folder aside
as the link it is, never writes or cleans through a link out of the workspace, and refuses a
backups folder that is a link; `course grade` tells a linked folder or file for what it is (the
class runs of tests/security/test_unprivileged.py show it graded that way under every isolation)."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import course


def outside_folder(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    (outside / "__pycache__").mkdir(parents=True)
    (outside / "models.py").write_text("PRECIOUS = 1\n", encoding="utf-8")
    (outside / "__pycache__" / "models.cpython-311.pyc").write_bytes(b"cache")
    return outside


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_reset_moves_a_linked_exercise_folder_aside_as_a_link(tmp_path):
    workspace = tmp_path / "ws"
    assert course("init", workspace=workspace).returncode == 0
    outside = outside_folder(tmp_path)
    before = snapshot(outside)
    folder = workspace / "sqlalchemy-2" / "02-models"
    for path in sorted(folder.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    folder.rmdir()
    folder.symlink_to(outside, target_is_directory=True)

    result = course("reset", "02", "--yes", workspace=workspace)
    assert result.returncode == 0, result.stdout + result.stderr
    assert snapshot(outside) == before, "reset changed what the link pointed at"
    assert folder.is_dir() and not folder.is_symlink() and (folder / "models.py").is_file()
    backups = list((workspace / ".course" / "backups").iterdir())
    assert len(backups) == 1 and backups[0].is_symlink() and os.readlink(backups[0]) == str(outside)


def test_reset_never_writes_through_a_link_inside_the_folder(tmp_path):
    workspace = tmp_path / "ws"
    assert course("init", workspace=workspace).returncode == 0
    outside = outside_folder(tmp_path)
    before = snapshot(outside)
    folder = workspace / "sqlalchemy-2" / "02-models"
    (folder / "models.py").unlink()
    (folder / "models.py").symlink_to(outside / "models.py")

    result = course("reset", "02", "--yes", workspace=workspace)
    assert result.returncode == 0, result.stdout + result.stderr
    assert snapshot(outside) == before
    assert not (folder / "models.py").is_symlink() and "PRECIOUS" not in (folder / "models.py").read_text(encoding="utf-8")
    (backup,) = (workspace / ".course" / "backups").iterdir()
    assert (backup / "models.py").is_symlink()


def test_reset_refuses_a_backups_folder_that_is_a_link(tmp_path):
    workspace = tmp_path / "ws"
    assert course("init", workspace=workspace).returncode == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (workspace / ".course" / "backups").symlink_to(elsewhere, target_is_directory=True)
    folder = workspace / "sqlalchemy-2" / "02-models"
    mine = (folder / "models.py").read_text(encoding="utf-8") + "# my work\n"
    (folder / "models.py").write_text(mine, encoding="utf-8")

    result = course("reset", "02", "--yes", workspace=workspace)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "symbolic link" in result.stderr and "fix:" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert list(elsewhere.iterdir()) == []
    assert (folder / "models.py").read_text(encoding="utf-8") == mine, "nothing the learner wrote is lost"
