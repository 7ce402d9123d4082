"""Starters are laid out once per exercise: a file the learner deleted stays deleted, and
`course check` says it is missing instead of grading a resurrected starter. Real CLI, subprocess."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from conftest import course


def test_a_deleted_file_stays_deleted_and_check_says_it_is_missing(tmp_path):
    workspace = tmp_path / "ws"
    assert course("init", workspace=workspace).returncode == 0
    models = workspace / "sqlalchemy-2" / "02-models" / "models.py"
    assert models.is_file()
    models.unlink()
    for command in (("list",), ("init",), ("hint", "02")):
        assert course(*command, workspace=workspace).returncode == 0
        assert not models.exists(), f"`course {' '.join(command)}` brought the starter back"
    result = course("check", "02", "--json", workspace=workspace)
    assert not models.exists()
    assert result.returncode != 0
    data = json.loads(result.stdout)
    assert data["status"] == "error"
    (only,) = data["checks"]
    assert only["message"].startswith("models.py is missing"), only["message"]
    assert "`course reset 02-models` restores the starter" in only["message"]
    assert len(only["message"].splitlines()) == 1
    plain = course("check", "02", workspace=workspace)
    assert "models.py is missing" in plain.stdout.replace("\n", " ")


def test_a_replaced_initial_revision_is_not_resurrected(tmp_path):
    """08-docchat: the learner's own chain of revisions instead of the provided initial one."""
    workspace = tmp_path / "ws"
    assert course("init", workspace=workspace).returncode == 0
    versions = workspace / "sqlalchemy-2" / "08-docchat" / "alembic" / "versions"
    provided = sorted(p.name for p in versions.glob("*.py"))
    assert provided
    for name in provided:
        (versions / name).unlink()
    (versions / "0001_mine.py").write_text('revision = "0001"\ndown_revision = None\n', encoding="utf-8")
    assert course("list", workspace=workspace).returncode == 0
    assert sorted(p.name for p in versions.glob("*.py")) == ["0001_mine.py"]


def test_exercises_new_to_the_workspace_are_laid_out_and_old_folders_count_as_had(tmp_path):
    workspace = tmp_path / "ws"
    assert course("init", workspace=workspace).returncode == 0
    store = workspace / ".course" / "progress.sqlite3"
    # content added after the workspace was made: no record, no folder -> laid out on the next command
    new = workspace / "sqlalchemy-2" / "13-hybrid"
    _forget(store, "sqlalchemy-2/13-hybrid")
    for path in sorted(new.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    new.rmdir()
    # a workspace made before laying out was recorded: the folder exists, a file is gone
    old = workspace / "sqlalchemy-2" / "03-engine-session"
    _forget(store, "sqlalchemy-2/03-engine-session")
    (old / "db.py").unlink()
    result = course("init", workspace=workspace)
    assert result.returncode == 0, result.stderr
    assert (new / "models.py").is_file()
    assert not (old / "db.py").exists()
    assert (old / "models.py").is_file()


def _forget(store: Path, exercise: str) -> None:
    with sqlite3.connect(store) as connection:
        deleted = connection.execute("DELETE FROM settings WHERE key = ?", (f"laid-out:{exercise}",)).rowcount
    assert deleted == 1
