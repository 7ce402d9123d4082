"""Several modules side by side (the built-in course and tests/modules/pg-indexes): ids with their
module's prefix, an ambiguous short id listing the choices (exit 2), a module shadowed by --content
explained as such. The real CLI in a subprocess."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import course

PG_INDEXES = Path(__file__).resolve().parents[1] / "modules" / "pg-indexes"


def test_both_modules_are_listed():
    listing = course("--content", str(PG_INDEXES), "list", "--json")
    assert listing.returncode == 0, listing.stderr
    assert [m["id"] for m in json.loads(listing.stdout)] == ["sqlalchemy-2", "pg-indexes"]


def test_an_ambiguous_short_id_lists_the_full_ids(tmp_path):
    run = course("--content", str(PG_INDEXES), "hint", "02", workspace=tmp_path / "ws")
    assert run.returncode == 2
    assert "'02' matches several exercises (sqlalchemy-2/02-models, pg-indexes/02-async-lookup)" in run.stderr
    assert "e.g. sqlalchemy-2/02-models" in run.stderr


def test_a_prefixed_short_id_resolves_within_its_module(tmp_path):
    run = course("--content", str(PG_INDEXES), "hint", "pg-indexes/02", workspace=tmp_path / "ws")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "await" in run.stdout  # the first hint of 02-async-lookup
    words = course("--content", str(PG_INDEXES), "hint", "pg-indexes/async-lookup", workspace=tmp_path / "ws")
    assert words.returncode == 0, words.stderr


def test_an_unknown_module_prefix_says_which_modules_exist(tmp_path):
    run = course("--content", str(PG_INDEXES), "hint", "pg-index/02", workspace=tmp_path / "ws")
    assert run.returncode == 2
    assert "no module 'pg-index' (modules: sqlalchemy-2, pg-indexes)" in run.stderr


def test_an_installed_module_shadowed_by_content_is_explained(tmp_path):
    """The instructor's working copy (--content) comes before the installed package of the same id:
    said so, not reported as broken content."""
    site = tmp_path / "site"
    assert course("new-module", "demo", "--path", str(site / "course_module_demo")).returncode == 0
    info = site / "course_module_demo-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: course-module-demo\nVersion: 0.1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[course.content]\ndemo = course_module_demo\n", encoding="utf-8")
    working = tmp_path / "working"
    assert course("new-module", "demo", "--path", str(working)).returncode == 0
    listing = course("--content", str(working), "list", "--json", env={"PYTHONPATH": str(site)}, cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert [m["id"] for m in json.loads(listing.stdout)] == ["sqlalchemy-2", "demo"]
    assert "skipping broken content" not in listing.stderr
    assert f"module 'demo' here is shadowed by the one in {working}" in listing.stderr
    assert str(site / "course_module_demo" / "lessons" / "demo" / "module.toml") in listing.stderr
