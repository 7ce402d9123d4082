"""Acts run in the learner's own process: the portable way (no fork), where no judge can be apart.

``learner.run(act, *args)`` calls the act here and hands back its value through JSON, so a check
sees the same plain data as in a judged run. Every result of such a run is testimony (the runner
marks it so: ``checker.process.runner``).
"""

from __future__ import annotations

import inspect
import json

from checker.fixtures import Learner
from checker.resolver import RunScope


class InProcessLearner(Learner):
    def __init__(self, directory, modules, database_url: str):
        super().__init__(directory, modules)
        self._database_url = database_url
        self._engines: list = []
        self._state: dict = {}
        self._loop: RunScope | None = None

    def _engine(self):
        if not self._engines:
            from sqlalchemy import create_engine

            self._engines.append(create_engine(self._database_url, connect_args={"prepare_threshold": None}))
        return self._engines[0]

    def dispose(self) -> None:
        """Close the acts' connections (an interpreter may serve another run: ``checker.process.reuse``)."""
        for engine in self._engines:
            engine.dispose()
        self._engines.clear()

    def run(self, act, *args):
        from checker.capture import log as capture
        from checker.judge.witness import ActContext

        with capture.capture() as log:
            value = act(ActContext(self, self._database_url, self._engine, self._state, log), *json.loads(json.dumps(list(args))))
            if inspect.isawaitable(value):
                if self._loop is None:
                    self._loop = RunScope()
                value = self._loop.await_(value)
        return json.loads(json.dumps(value))
