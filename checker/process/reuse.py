"""Between two runs in one spawned interpreter: put back what a run changes, and find what it left.

The portable way (no fork) starts an interpreter per run, and its imports (SQLAlchemy, psycopg,
FastAPI: 0.3-0.5 s of CPU) are most of what a run costs. ``checker.process.launch.SpawnLauncher``
may give an interpreter the next run of **the same submission** (never another learner's) once
the run before has ended with its whole report, and only if :meth:`Baseline.restore` finds the
interpreter as a fresh one would be:

- what a run changes on purpose is put back: the working folder, the environment, ``sys.path``
  and the import hooks, the warning filters, the loggers (an Alembic ``env.py`` configures them),
  the signal handlers, the standard streams, the umask, the sockets' default timeout; the
  learner's modules (anything imported from outside the standard library, the installed packages
  and the grader) are forgotten, the libraries' ``functools`` caches emptied (their keys would
  keep the learner's objects), every mapper is disposed (``sqlalchemy.orm.clear_mappers``: a
  mapper that failed to configure cannot fail the next run's), and the garbage is collected;
- what must not be left is looked for, and any of it ends the interpreter: a thread (as the OS
  counts them), a process or a timer (``signal.alarm``) still running, a database connection still
  open, a listener on SQLAlchemy's own classes (``Engine``, ``Session``, ``Mapper``...), a name of
  any module or class loaded before the run bound to something the learner's code made (a
  monkeypatched library), a hook on ``sys`` (trace, profile, excepthook).

What is not looked for (documented in docs/security.md): state a library keeps inside an object
(a psycopg adapter registered globally, a cache), and an audit hook (``sys.addaudithook`` cannot
be undone). Such a leftover can reach only the same learner's next exercise, in a mode whose
verdicts are testimony anyway (the learner's code runs beside the checks).
"""

from __future__ import annotations

import functools
import gc
import operator
import os
import signal
import sys
import sysconfig
import tempfile
import threading
import warnings
from pathlib import Path
from types import ModuleType

_HOOKS = ("excepthook", "displayhook", "unraisablehook", "breakpointhook")


def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths.get(name) for name in ("stdlib", "platstdlib", "purelib", "platlib")}
    roots.add(str(Path(__file__).resolve().parents[1]))  # checker/
    course_file = getattr(sys.modules.get("course"), "__file__", None)
    if course_file:
        roots.add(str(Path(course_file).resolve().parent))
    return tuple(os.path.normcase(os.path.realpath(root)) + os.sep for root in roots if root)


class Baseline:
    """What this interpreter is before any run (taken once its imports are done, while nobody waits)."""

    def __init__(self) -> None:
        self.modules = {name: dict(vars(m)) for name, m in list(sys.modules.items()) if isinstance(m, ModuleType)}
        self.classes = {
            cls: dict(cls.__dict__)
            for name, namespace in self.modules.items()
            for cls in namespace.values()
            if isinstance(cls, type) and getattr(cls, "__module__", None) == name
        }
        self.cwd = os.getcwd()
        self.environ = dict(os.environ)
        self.path = list(sys.path)
        self.meta_path = list(sys.meta_path)
        self.path_hooks = list(sys.path_hooks)
        self.filters = list(warnings.filters)
        self.streams = (sys.stdin, sys.stdout, sys.stderr)
        self.hooks = {name: getattr(sys, name, None) for name in _HOOKS}
        self.limits = (sys.getrecursionlimit(), sys.getswitchinterval(), sys.dont_write_bytecode)
        self.tempdir = tempfile.tempdir
        self.umask = os.umask(0o022)
        os.umask(self.umask)
        self.timeout = _socket_timeout()
        self.threads = threading.active_count()
        self.os_threads = _os_threads()
        self.signals = {number: signal.getsignal(number) for number in _signals()}
        self.loggers = _loggers()
        self.listeners = _listeners()
        self.libraries = _library_roots()
        self._grown: list = []  # namespaces a library added names to during the last run
        cached = type(functools.lru_cache(maxsize=None)(len))
        self.caches = [
            value
            for namespace in (*self.modules.values(), *self.classes.values())
            for value in namespace.values()
            if isinstance(value, cached)
        ]

    def restore(self, learner_dir: str | os.PathLike[str] | None = None) -> str | None:
        """After a run (in ``learner_dir``): put back what it changed, forget its code; why this
        interpreter must not serve another run (None: it may)."""
        os.chdir(self.cwd)
        os.environ.clear()
        os.environ.update(self.environ)
        sys.path[:] = self.path
        sys.meta_path[:] = self.meta_path
        sys.path_hooks[:] = self.path_hooks
        sys.path_importer_cache.clear()
        warnings.filters[:] = self.filters  # type: ignore[index]  # a list at run time
        warnings._filters_mutated()  # type: ignore[attr-defined]  # "once" registries start over
        sys.stdin, sys.stdout, sys.stderr = self.streams
        recursion, switch, bytecode = self.limits
        sys.setrecursionlimit(recursion)
        sys.setswitchinterval(switch)
        sys.dont_write_bytecode = bytecode
        tempfile.tempdir = self.tempdir
        os.umask(self.umask)
        if "socket" in sys.modules:
            sys.modules["socket"].setdefaulttimeout(self.timeout)
        for number, handler in self.signals.items():
            if handler is not None and signal.getsignal(number) is not handler:
                signal.signal(number, handler)
        _restore_loggers(self.loggers)
        for name, namespace in self.modules.items():
            # the grader's own state of the run (its learner's folder...), and the builtins as they
            # were (a name added there would be found by the next run's code)
            if (name.startswith("checker.") or name == "builtins") and name in sys.modules:
                current = vars(sys.modules[name])
                if name == "builtins":
                    for added in set(current) - set(namespace):
                        del current[added]
                current.update(namespace)
        self._forget_new_code(learner_dir)
        self._empty_caches()
        try:
            from sqlalchemy.orm import clear_mappers

            clear_mappers()
        except Exception as error:  # noqa: BLE001 - a mapper that cannot even be disposed
            return f"its mappers could not be disposed ({type(error).__name__})"
        gc.collect()
        return self._leftover()

    def _empty_caches(self) -> None:
        """Empty the libraries' ``functools`` caches, as a fresh interpreter has them: their keys
        hold the learner's objects alive (FastAPI's keep each dependency, and through it the
        learner's engine and its connections)."""
        for cache in self.caches:
            cache.cache_clear()
        typing = sys.modules.get("typing")
        for cleanup in getattr(typing, "_cleanups", ()):
            try:
                cleanup()
            except Exception:  # noqa: BLE001, S112
                continue

    def _forget_new_code(self, learner_dir) -> None:
        learner = os.path.normcase(os.path.realpath(learner_dir)) + os.sep if learner_dir else None
        for name, module in list(sys.modules.items()):
            if name in self.modules:
                continue
            spec = getattr(module, "__spec__", None)
            if spec is not None and spec.origin in ("built-in", "frozen"):
                continue
            filename = getattr(module, "__file__", None)
            where = os.path.normcase(os.path.realpath(filename)) if filename else ""
            if where.startswith(self.libraries) and not (learner and where.startswith(learner)):
                continue  # a library the run imported: a fresh interpreter would import the same
            del sys.modules[name]

    def _leftover(self) -> str | None:
        if threading.active_count() > self.threads or _os_threads() > self.os_threads:
            return "a thread it started still runs"
        if _children():
            return "a process it started still runs"
        if hasattr(signal, "getitimer") and any(signal.getitimer(timer) != (0.0, 0.0) for timer in _TIMERS):
            return "a timer it set is still running (signal.setitimer, signal.alarm)"
        if sys.gettrace() is not None or sys.getprofile() is not None:
            return "a trace or profile function is set"
        for name, hook in self.hooks.items():
            if getattr(sys, name, None) is not hook:
                return f"sys.{name} was replaced"
        library_classes = {id(cls) for cls in self.classes}
        if any(key[0] in library_classes for key in _listeners() - self.listeners):
            return "an event listener is left on a class of SQLAlchemy's own (Engine, Session, Pool...)"
        if _open_connections():
            return "a database connection is still open"
        for name in self.modules:
            module = sys.modules.get(name)
            if module is None:
                return f"module {name} was removed"
            if (changed := self._changed(self.modules, name, vars(module))) is not None:
                return f"{name}.{changed} was changed"
        for cls in self.classes:
            if (changed := self._changed(self.classes, cls, cls.__dict__)) is not None:
                return f"{cls.__module__}.{cls.__qualname__}.{changed} was changed"
        for namespaces, key, now in self._grown:  # what libraries added is part of the picture from now on
            namespaces[key] = dict(now)
        self._grown.clear()
        return None

    def _changed(self, namespaces: dict, key, now) -> str | None:
        """The first name of ``namespaces[key]`` (as it was) that ``now`` lacks or binds to an object
        the learner's code made (a monkeypatch); None when there is none. Objects a library made
        in the meantime are no change (a lazy import's submodule, a cache filled on first use,
        Alembic's compilers for SQLAlchemy's DDL: a fresh interpreter would make them too)."""
        before = namespaces[key]
        if len(now) == len(before) and all(map(operator.is_, before.values(), map(now.get, before))):
            return None  # the common case, compared in C
        for name, value in before.items():
            if name not in now or (now[name] is not value and self._learners(now[name])):
                return str(name)
        added = next((str(name) for name, value in list(now.items()) if name not in before and self._learners(value)), None)
        if added is None:
            self._grown.append((namespaces, key, now))
        return added

    def _learners(self, value: object) -> bool:
        """Whether ``value`` was made by code outside the libraries (the learner's)."""
        value = getattr(value, "__func__", value)  # a bound or class method
        value = getattr(value, "func", value) if type(value).__name__ == "partial" else value
        code = getattr(value, "__code__", None)
        if code is not None and not code.co_filename.startswith("<"):
            return not self._library_file(code.co_filename)
        # code a library generated (``exec`` of "<string>"), a class or an instance: by its module
        owner = value if code is not None or isinstance(value, type) else type(value)
        name = getattr(owner, "__module__", None)
        if not isinstance(name, str) or not name:
            return False  # made by ``exec`` with no module (SQLAlchemy generates its traversals so)
        module = sys.modules.get(name)
        if module is None:
            return True  # a module forgotten after the run: the learner's
        filename = getattr(module, "__file__", None)
        return filename is not None and not self._library_file(filename)

    def _library_file(self, filename: str) -> bool:
        return os.path.normcase(os.path.realpath(filename)).startswith(self.libraries)


_TIMERS = [getattr(signal, name) for name in ("ITIMER_REAL", "ITIMER_VIRTUAL", "ITIMER_PROF") if hasattr(signal, name)]


def _socket_timeout() -> float | None:
    socket = sys.modules.get("socket")
    return socket.getdefaulttimeout() if socket is not None else None


def _signals() -> list[signal.Signals]:
    numbers: list[signal.Signals] = []
    for number in signal.valid_signals():
        try:
            signal.getsignal(number)
        except (ValueError, OSError):
            continue
        numbers.append(number)
    return numbers


def _loggers() -> dict:
    import logging

    manager = logging.Logger.manager
    loggers = [logging.getLogger(), *(lg for lg in manager.loggerDict.values() if isinstance(lg, logging.Logger))]
    return {lg: (lg.level, list(lg.handlers), lg.disabled, lg.propagate, list(lg.filters)) for lg in loggers}


def _restore_loggers(saved: dict) -> None:
    import logging

    fresh: tuple = (logging.NOTSET, [], False, True, [])
    for logger, now in _loggers().items():
        was = saved.get(logger, fresh)
        if now == was:
            continue
        level, handlers, disabled, propagate, filters = was
        logger.setLevel(level)
        logger.handlers[:] = handlers
        logger.disabled = disabled
        logger.propagate = propagate
        logger.filters[:] = filters
    logging.disable(logging.NOTSET)


def _listeners() -> set:
    registry = sys.modules.get("sqlalchemy.event.registry")
    if registry is None:
        return set()
    return set(getattr(registry, "_key_to_collection", {}))


def _open_connections() -> bool:
    psycopg = sys.modules.get("psycopg")
    if psycopg is None:
        return False
    connection = psycopg.BaseConnection  # an AsyncConnection too
    return any(isinstance(thing, connection) and not thing.closed for thing in gc.get_objects())


def _os_threads() -> int:
    """Threads of this process as the OS counts them (``_thread.start_new_thread`` ones too, which
    ``threading`` does not list); when it cannot tell, as many as there can be."""
    try:
        import psutil

        return psutil.Process().num_threads()
    except Exception:  # noqa: BLE001 - cannot tell: not reused
        return sys.maxsize


def _children() -> bool:
    try:
        import psutil

        return bool(psutil.Process().children())
    except Exception:  # noqa: BLE001 - cannot tell: not reused
        return True
