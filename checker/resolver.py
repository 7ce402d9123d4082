"""Fixture resolution: a check's parameters resolved by name to fixtures, pytest-style.

Built-in fixtures (``checker.fixtures.BUILTINS``) and those a ``checks.py`` declares are made on
first use, for one check (``scope="check"``, the default) or once for the whole run
(``scope="run"``, kept in a :class:`RunScope`); generator fixtures are torn down, last made
first. A run-scoped fixture may not use a fixture made for each check (the scope-mismatch error).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, cast

RUN_SCOPED_BUILTINS = frozenset({"learner", "database_url", "db", "admin", "schema", "captured_engine", "environment"})
"""Built-ins a run-scoped fixture may use (``sql`` belongs to one check)."""


class RunScope:
    """Values of run-scoped fixtures (and their teardowns), kept across the checks of a run."""

    def __init__(self):
        self.values: dict[str, object] = {}
        self.teardowns: list = []

    def teardown(self) -> None:
        finish(self.teardowns)


class FixtureResolver:
    """Resolve a check's parameters by name, pytest-style, with teardown for generator fixtures."""

    def __init__(self, registry, seed: dict[str, object], run: RunScope | None = None):
        from checker.fixtures import BUILTINS

        self._specs: dict[str, Callable[..., Any]] = dict(cast("dict[str, Callable[..., Any]]", BUILTINS))
        self._specs.update({name: spec.function for name, spec in registry.fixtures.items()})
        self._scopes = {name: spec.scope for name, spec in registry.fixtures.items()}
        self._values = dict(seed)
        self._teardowns: list = []
        self._run = run or RunScope()

    def resolve(self, name: str, chain: tuple[str, ...] = ()):
        run_scoped = self._scopes.get(name) == "run"
        if run_scoped and name in self._run.values:
            return self._run.values[name]
        if name in self._values:
            return self._values[name]
        if name in chain:
            raise RuntimeError(f"fixture cycle: {' -> '.join(chain + (name,))}")
        function = self._specs.get(name)
        if function is None:
            raise RuntimeError(f"unknown fixture {name!r} (built-in: {', '.join(sorted(self._specs))})")
        parameters = list(inspect.signature(function).parameters)
        if run_scoped:
            for parameter in parameters:
                if self.scope_of(parameter) != "run":
                    raise RuntimeError(f"run-scoped fixture {name!r} cannot use {parameter!r}, which is made for each check")
        args = [self.resolve(p, chain + (name,)) for p in parameters]
        value = function(*args)
        if inspect.isgenerator(value):
            generator = value
            value = next(generator)
            (self._run.teardowns if run_scoped else self._teardowns).append(generator)
        (self._run.values if run_scoped else self._values)[name] = value
        return value

    def scope_of(self, name: str) -> str:
        """``"run"`` or ``"check"``: how long fixture ``name`` lives."""
        return self._scopes.get(name, "run" if name in RUN_SCOPED_BUILTINS else "check")

    def teardown(self) -> None:
        finish(self._teardowns)


def finish(teardowns: list) -> None:
    """Run generator fixtures' teardowns, last made first."""
    for generator in reversed(teardowns):
        try:
            next(generator)
        except StopIteration:
            pass
    teardowns.clear()
