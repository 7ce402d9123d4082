"""The app imports its screens, never the other way round: a screen asks the app by message."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_no_screen_or_widget_imports_the_app():
    grimp = pytest.importorskip("grimp", reason="grimp comes with import-linter (the [test] extras)")
    graph = grimp.build_graph("course", "checker")
    app = "course.tui.app"
    parts = sorted(graph.find_descendants("course.tui.screens") | graph.find_descendants("course.tui.widgets"))
    assert parts, "no screens found"
    for module in parts:
        chain = graph.find_shortest_chain(importer=module, imported=app)
        assert chain is None, f"{module} imports the app: {' -> '.join(chain)}"
    assert graph.find_shortest_chain(importer=app, imported="course.tui.screens.main") is not None


def test_the_main_screen_imports_alone():
    code = "import sys, course.tui.screens.main; assert 'course.tui.app' not in sys.modules, 'the screen pulled the app in'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_learner_session_imports_without_textual_or_the_app():
    code = (
        "import sys, course.learner.session; "
        "assert not {'textual', 'course.tui.app', 'click'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
