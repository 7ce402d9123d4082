"""In the grading child: whether learner code changed what the grader judges with.

:class:`Integrity` is made after ``checks.py`` is loaded and before the first learner module is
imported; the harness asks it after the import and after every check. A change is reported as a
``tampered`` event and the runner believes no result of that run (``docs/security.md``).
"""

from __future__ import annotations

import sys


class Integrity:
    """What the checks rely on, as it was before learner code ran: the grader's modules (every
    ``checker.*`` module imported by then: their functions and classes), the checks and their
    fixtures, and the library functions the graders judge with. :meth:`changed` names what was
    rebound since.

    This catches a submission that patches the grader to pass; it cannot stop code that takes the
    same trouble to undo its patch in time (``docs/security.md`` says what remains)."""

    GUARDED_MODULES = ("builtins", "json", "os", "hmac", "hashlib", "sqlalchemy", "sqlalchemy.orm", "sqlalchemy.inspection")
    GUARDED_CLASSES = (
        ("sqlalchemy.engine.reflection", "Inspector"),
        ("sqlalchemy.engine.base", "Connection"),
        ("sqlalchemy.engine.base", "Engine"),
        ("sqlalchemy.orm.session", "Session"),
        ("sqlalchemy.engine.result", "Result"),
        ("sqlalchemy.engine.result", "ScalarResult"),
    )
    """The library functions the graders judge with (a few namespaces: reading every object of a
    forked child's libraries would copy their memory pages, for every run)."""

    def __init__(self, registry):
        self._namespaces = []
        for name in [n for n in sys.modules if grader_module(n)]:
            module = sys.modules[name]
            self._watch(name, module.__dict__)
            for value in list(module.__dict__.values()):
                if isinstance(value, type) and getattr(value, "__module__", "") == name:
                    self._watch(f"{name}.{value.__name__}", value.__dict__)
        for name in self.GUARDED_MODULES:
            if name in sys.modules:
                self._watch(name, sys.modules[name].__dict__)
        for module_name, class_name in self.GUARDED_CLASSES:
            cls = getattr(sys.modules.get(module_name), class_name, None)
            if isinstance(cls, type):
                self._watch(f"{module_name}.{class_name}", cls.__dict__)
        self._functions = [(spec.name, spec.function, spec.function.__code__) for spec in registry.checks]
        self._functions += [(name, spec.function, spec.function.__code__) for name, spec in registry.fixtures.items()]

    def watched(self) -> list[str]:
        """The labels of every namespace watched (for tests and diagnostics)."""
        return [label for label, *_ in self._namespaces]

    def _watch(self, label: str, namespace) -> None:
        keys = [key for key in list(namespace) if key not in ("__builtins__", "__warningregistry__")]
        self._namespaces.append((label, namespace, keys, [id(namespace[key]) for key in keys]))

    def changed(self, _list=list, _map=map, _id=id, _zip=zip, _next=next, _len=len) -> str:
        # the builtins it judges with are bound here, when the grader is imported: rebinding
        # ``builtins.id`` or ``map`` later cannot blind it
        for label, namespace, keys, before in self._namespaces:
            if _list(_map(_id, _map(namespace.get, keys, [_MISSING] * _len(keys)))) != before:
                key = _next(k for k, i in _zip(keys, before, strict=True) if _id(namespace.get(k, _MISSING)) != i)
                return f"{label}.{key}"
        for name, function, code in self._functions:
            if function.__code__ is not code:
                return f"check {name}"
        return ""


def grader_module(name: str) -> bool:
    """Whether module ``name`` is the grader's own (watched by :class:`Integrity`)."""
    return name == "checker" or name.startswith("checker.") or name == "course_checks"


_MISSING = object()
