"""The act protocol between the judge and the witness: one JSON line each way, of a fixed shape.

Judge → witness: ``{"act": NAME, "args": [...], "check": NAME}`` (or ``{"end": true}``).
Witness → judge, one of:

- ``{"ok": VALUE, "hints": [...]}``: what the act returned (plain JSON);
- ``{"failed": MESSAGE, "hints": [...]}``: the act called ``fail()`` (a teaching message, e.g. a
  missing function); the judge turns it into the check's failure;
- ``{"raised": {"kind": "learner"|"database"|"other", "text": TEXT}, "hints": [...]}``: an
  exception, summarised in the witness (the learner's traceback text).

``hints`` are the statements the witness's in-process capture saw (``sql``, ``location``,
``lazy_load``, ``relationship_load``): they add file:line and "lazy load of ..." to what the server
log shows; counts and texts come from the server. Nothing in a reply is a status: the judge
decides every verdict. Replies are read with a deadline for the whole reply (a 1-byte trickle
cannot hold it off), scanned once (linear), bounded (:data:`REPLY_LIMIT`) and parsed with
``json.loads`` only.
"""

from __future__ import annotations

import json
import os
import select
import time

REPLY_LIMIT = 4 << 20
"""Bytes of one reply at most."""
HINT_LIMIT = 2000
"""Statements of hints kept per act."""


class WitnessGone(Exception):
    """The learner's process ended (or closed its pipe) before it replied."""


class ActTimeout(Exception):
    """The act did not reply before the check's deadline."""


class BadReply(Exception):
    """A reply that is not a JSON object of the protocol's shape, or too long."""


class LearnerRaised(Exception):
    """The learner's code raised while an act ran: ``text`` is the learner's traceback text."""

    def __init__(self, kind: str, text: str):
        super().__init__(text)
        self.kind = kind
        self.text = text


def write_line(fd: int, message: dict) -> None:
    data = json.dumps(message, default=str).encode() + b"\n"
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def read_line(fd: int, deadline: float, limit: int = REPLY_LIMIT, buffer: bytearray | None = None) -> bytes:
    """One line from ``fd`` before ``deadline`` (``time.monotonic()``): linear in what arrives,
    bounded by ``limit``; raises :class:`ActTimeout`, :class:`WitnessGone` or :class:`BadReply`."""
    pending = buffer if buffer is not None else bytearray()
    scanned = 0
    while True:
        end = pending.find(b"\n", scanned)
        if end >= 0:
            line = bytes(pending[:end])
            del pending[: end + 1]
            return line
        scanned = len(pending)
        if scanned > limit:
            raise BadReply(f"a reply from your code's process is longer than {limit >> 20} MiB")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ActTimeout("no reply before the deadline")
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError as error:
            raise WitnessGone(str(error)) from None
        if not chunk:
            raise WitnessGone("the pipe closed")
        pending += chunk


def parse_reply(line: bytes) -> dict:
    """A witness's reply, checked for the protocol's shape (anything else is :class:`BadReply`)."""
    try:
        reply = json.loads(line)
    except (ValueError, RecursionError):
        raise BadReply("a reply from your code's process is not JSON") from None
    if not isinstance(reply, dict):
        raise BadReply("a reply from your code's process is not a JSON object")
    kinds = [key for key in ("ok", "failed", "raised", "progress") if key in reply]
    if len(kinds) != 1:
        raise BadReply("a reply from your code's process has no single outcome")
    if "failed" in reply and not isinstance(reply["failed"], str):
        raise BadReply("a failure from your code's process carries no message")
    if "raised" in reply:
        raised = reply["raised"]
        if not isinstance(raised, dict) or not isinstance(raised.get("text"), str) or raised.get("kind") not in KINDS:
            raise BadReply("an exception from your code's process is not summarised as expected")
    hints = reply.get("hints", [])
    if not isinstance(hints, list):
        raise BadReply("a reply's hints are not a list")
    reply["hints"] = [_hint(h) for h in hints[:HINT_LIMIT] if isinstance(h, dict)]
    return reply


KINDS = ("learner", "database", "other", "import")


def _hint(data: dict) -> dict:
    def text(key: str) -> str | None:
        value = data.get(key)
        return value[:10_000] if isinstance(value, str) else None

    return {key: text(key) for key in ("sql", "location", "lazy_load", "relationship_load")}
