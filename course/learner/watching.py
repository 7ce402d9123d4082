"""When a save re-checks an exercise: one policy for ``course watch`` and ``course start``.

- which files count as a save: the exercise's sources (``.py``, ``.ini``, ``.mako``), never the
  ``__pycache__`` or other files the learner's code writes when it runs;
- the debounce: an editor's burst of writes (write, rename, chmod…) is one save;
- one check at a time, and a save made while a check runs is never dropped: it starts exactly one
  more check once the running one is over (however many saves came meanwhile). Besides the
  watcher's events, the folder's sources are compared before and after the check, so a save the
  watcher could not see (not armed yet, or its events still in the debounce) counts too.

No UI here: the CLI and the TUI each drive a :class:`CheckGate` with what they see.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

SOURCE_SUFFIXES = (".py", ".ini", ".mako")
DEBOUNCE_MS = 300
"""Writes this close together are one save."""


def is_source(path: str | Path) -> bool:
    """True for a file whose save counts (an exercise source, not a cache)."""
    text = str(path)
    return text.endswith(SOURCE_SUFFIXES) and "__pycache__" not in text


def source_filter(_change, path: str) -> bool:
    """:func:`is_source` as a ``watchfiles`` filter."""
    return is_source(path)


def snapshot(folder: Path) -> dict[str, tuple[int, int, int]]:
    """The sources under ``folder`` as a save changes them: modification time, size and a
    checksum of each (the clock of some file systems is coarse: two writes in a few
    milliseconds can leave the same time)."""
    files = {}
    for path in folder.rglob("*"):
        if is_source(path):
            try:
                if path.is_file():
                    stat = path.stat()
                    files[str(path)] = (stat.st_mtime_ns, stat.st_size, zlib.crc32(path.read_bytes()))
            except OSError:  # removed while we looked: that is a change the next look sees
                continue
    return files


def saves(root: Path, stop: threading.Event, armed: threading.Event | None = None) -> Iterator[set[str]]:
    """The source files saved under ``root`` (recursively), one debounced set per save, until
    ``stop`` is set. ``armed`` is set once the watcher sees saves (a save before is not seen)."""
    from watchfiles import watch

    for changes in watch(
        root,
        debounce=DEBOUNCE_MS,
        step=50,
        stop_event=stop,
        recursive=True,
        watch_filter=source_filter,
        rust_timeout=300,
        yield_on_timeout=True,  # the first (empty) yield comes once the watcher is set up
    ):
        if armed is not None:
            armed.set()
        if changes:
            yield {path for _change, path in changes}


def wait_for_save(folder: Path, since: dict[str, tuple[int, int, int]], stop: threading.Event | None = None) -> bool:
    """Block until a source under ``folder`` is saved, or differs from ``since`` (a save made
    before the watcher was armed); False if ``stop`` was set first."""
    from watchfiles import watch

    if snapshot(folder) != since:
        return True
    for changes in watch(
        folder,
        debounce=DEBOUNCE_MS,
        step=100,
        watch_filter=source_filter,
        stop_event=stop,
        rust_timeout=1000,
        yield_on_timeout=True,
    ):
        if changes or snapshot(folder) != since:
            return True
    return False


class CheckGate:
    """One check at a time; a save made during a check makes exactly one more check after it.

    ``saved(folder)`` when a save is seen (True: check now), ``started(name, folder)`` as a check
    begins, ``finished()`` when it ends (True: the sources changed while it ran, check once
    more now), ``cancelled()`` when it is abandoned. What was saved is judged by the sources'
    modification times, taken as the check starts: a save seen twice (the watcher, and the
    in-app editor's own message) or seen late (the watcher's debounce outlasting a short check)
    does not check the same version twice. Thread-safe: a watcher thread may call ``saved``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: str | None = None
        self._folder: Path | None = None
        self._checked: dict[str, tuple[int, int, int]] | None = None  # the sources as the last check started

    @property
    def running(self) -> str | None:
        """The name of the check that runs (the exercise), or None."""
        return self._running

    def saved(self, folder: Path) -> bool:
        """A save in ``folder``: True means check now. False: one runs (and ``finished`` will
        say to check again), or the last check already saw these very files."""
        with self._lock:
            if self._running is not None:
                return False
            checked = self._checked if self._folder == folder else None
        return checked is None or snapshot(folder) != checked

    def started(self, name: str, folder: Path) -> dict[str, tuple[int, int, int]]:
        """A check of ``folder`` begins; the sources as it sees them (the :func:`snapshot`)."""
        before = snapshot(folder)
        with self._lock:
            self._running, self._folder, self._checked = name, folder, before
        return before

    def finished(self) -> bool:
        """The check ended: True if its sources were saved while it ran (check once more, now)."""
        with self._lock:
            folder, before = self._folder, self._checked
            self._running = None
        return folder is not None and before is not None and snapshot(folder) != before

    def cancelled(self) -> None:
        """The check was abandoned (cancelled, failed to run): nothing follows it, and a save of
        the same files checks them again."""
        with self._lock:
            self._running, self._folder, self._checked = None, None, None
