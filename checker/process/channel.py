"""The child's report: signed, numbered JSON lines, ``<signature> <json>``, one per event.

The child writes with :class:`Channel`; the runner (``checker.process.runner``) recomputes
:func:`sign` with the run's key, which only the child was given, so a line learner code writes
into the pipe is told apart from the harness's. The kinds of event are
:class:`checker.wire.Event`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os

from checker.wire import Event


def sign(key: bytes, number: int, payload: bytes) -> str:
    """The signature of event ``number`` (the runner computes the same to check it)."""
    return hmac.new(key, b"%d:" % number + payload, hashlib.sha256).hexdigest()


class Channel:
    """Signed, numbered events to the runner.

    The functions it writes with are bound here, before learner code runs, so rebinding
    ``os.write`` or ``json.dumps`` later changes nothing.
    """

    def __init__(self, fd: int, key: bytes):
        self._fd = fd
        self._number = 0
        dumps, write, signer = json.dumps, os.write, sign

        def send(kind: Event, **data) -> None:
            # an Event is a str: JSON writes its value as it is, calling no method of the enum
            payload = dumps({"type": kind, "n": self._number, **data}, default=str).encode()
            line = signer(key, self._number, payload).encode() + b" " + payload + b"\n"
            self._number += 1
            view = memoryview(line)
            while view:
                view = view[write(fd, view) :]

        self.send = send
