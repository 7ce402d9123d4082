"""Fixture resolution: a check's parameters resolved by name to fixtures, pytest-style.

Built-in fixtures (``checker.fixtures.BUILTINS``) and those a ``checks.py`` declares are made on
first use, for one check (``scope="check"``, the default) or once for the whole run
(``scope="run"``, kept in a :class:`RunScope`); generator fixtures are torn down, last made
first. A run-scoped fixture may not use a fixture made for each check (the scope-mismatch error).
"""

from __future__ import annotations

import asyncio
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
        self._loop: asyncio.AbstractEventLoop | None = None

    def await_(self, awaitable):
        """Run ``awaitable`` to completion on the run's event loop (made on first use) and return
        its result; what it raises is raised here, so a failing ``async def`` check fails."""
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(_as_coroutine(awaitable))

    def teardown(self) -> None:
        try:
            finish(self.teardowns, self)
        finally:
            if self._loop is not None and not self._loop.is_closed():
                try:
                    self._loop.run_until_complete(self._loop.shutdown_asyncgens())
                finally:
                    self._loop.close()


async def _as_coroutine(awaitable):
    return await awaitable


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
        if inspect.isgenerator(value) or inspect.isasyncgen(value):
            generator = value
            value = next(generator) if inspect.isgenerator(generator) else self._run.await_(anext(generator))
            (self._run.teardowns if run_scoped else self._teardowns).append(generator)
        elif inspect.isawaitable(value):
            value = self._run.await_(value)
        (self._run.values if run_scoped else self._values)[name] = value
        return value

    def scope_of(self, name: str) -> str:
        """``"run"`` or ``"check"``: how long fixture ``name`` lives."""
        return self._scopes.get(name, "run" if name in RUN_SCOPED_BUILTINS else "check")

    def await_(self, awaitable):
        """Await ``awaitable`` (an ``async def`` check) on the run's loop."""
        return self._run.await_(awaitable)

    def teardown(self) -> None:
        finish(self._teardowns, self._run)


def finish(teardowns: list, run: RunScope | None = None) -> None:
    """Run generator fixtures' teardowns, last made first (async generators on the run's loop)."""
    for generator in reversed(teardowns):
        try:
            if inspect.isasyncgen(generator):
                if run is None:
                    raise RuntimeError("an async fixture's teardown needs the run's event loop")
                run.await_(anext(generator))
            else:
                next(generator)
        except (StopIteration, StopAsyncIteration):
            pass
    teardowns.clear()
