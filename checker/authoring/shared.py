"""A module's own helpers, through the door: ``exercises/<module>/_shared/helpers.py``.

Code that several exercises of one module share (seed data, a common assertion) lives in one file
next to the exercises, not in the engine. A ``checks.py`` imports from it by name::

    from checker.authoring.shared import seed, configured_models

or takes the whole file::

    from checker.authoring import module_helpers

    helpers = module_helpers()

The file is found from the importing ``checks.py`` (``<root>/exercises/<module>/<exercise>/checks.py``
→ ``<root>/exercises/<module>/_shared/helpers.py``), so two modules' helpers never mix, and it is
compiled once per version (by the warm worker, with the checks) and
loaded once per process, in every process that runs checks: the warm worker's children, spawned
interpreters, and confined class runs (``checker.process.sandbox`` reveals the file with the checks).
The helper file itself imports from ``checker.authoring`` like a ``checks.py``.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import CodeType, ModuleType

SHARED_DIR = "_shared"
HELPERS_FILE = "helpers.py"

_loaded: dict[Path, ModuleType] = {}
_compiled: dict[tuple[str, int, int], CodeType] = {}


def helpers_file(checks_file: str | Path) -> Path:
    """Where the helpers of the module that ``checks_file`` belongs to live (whether or not they exist)."""
    return Path(checks_file).resolve().parent.parent / SHARED_DIR / HELPERS_FILE


def module_helpers(checks_file: str | Path | None = None) -> ModuleType:
    """The helpers module of the calling ``checks.py``'s module (or of ``checks_file``'s)."""
    if checks_file is None:
        checks_file = _caller_file()
    path = helpers_file(checks_file)
    if path not in _loaded:
        if not path.is_file():
            raise ImportError(
                f"{path} does not exist: a module's shared helpers live in exercises/<module>/{SHARED_DIR}/{HELPERS_FILE}"
            )
        name = "course_module_helpers_" + re.sub(r"\W", "_", path.parent.parent.name)
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"{path} cannot be imported")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            exec(code_of(path), module.__dict__)
        except BaseException:
            del sys.modules[name]
            raise
        _loaded[path] = module
    return _loaded[path]


def code_of(path: Path) -> CodeType:
    """The compiled code of the helpers file at ``path``, once per version of the file (its
    ``__pycache__`` used where there is one): the warm worker compiles it with the checks, so the
    children it forks, which each load the helpers, only run it."""
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    code = _compiled.get(key)
    if code is None:
        from importlib.machinery import SourceFileLoader

        code = SourceFileLoader(path.stem, str(path)).get_code(path.stem)
        if code is None:
            raise ImportError(f"{path} cannot be compiled")
        _compiled[key] = code
    return code


def _caller_file() -> str:
    """The file of the innermost frame outside this module and importlib: the importing ``checks.py``."""
    frame = sys._getframe(1)
    while frame is not None:
        file = frame.f_globals.get("__file__")
        if file and file != __file__ and not str(file).startswith("<frozen"):
            return str(file)
        frame = frame.f_back  # type: ignore[assignment]
    raise ImportError("checker.authoring.shared is imported by an exercise's checks.py (no calling file found)")


def __getattr__(name: str):
    """``from checker.authoring.shared import seed``: ``seed`` from the importing module's helpers."""
    if name.startswith("__"):
        raise AttributeError(name)
    helpers = module_helpers(_caller_file())
    try:
        return getattr(helpers, name)
    except AttributeError:
        raise ImportError(f"{helpers.__file__} defines no {name!r}") from None
