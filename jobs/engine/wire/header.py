"""The plain-text forms of a message in Redis, which the Lua scripts read too (lib/wire.lua): the
header of a wire message, its compact ids, and the entries a message waits in with its queue.
message.py writes the header (Message.encode, the hot path: inline) and reads the rest.

On the wire a message is one string:

    <enqueued, µs, 13 hex>|<deliveries>|<task id>|<task name>|<envelope JSON>

and, when the site signs its messages (signing.py), the signature's 32 hex digits follow the time in
the first field, which the scripts read as hex and keep as it is.

The header is plain text so that Lua scripts can read the id and count deliveries without decoding
JSON, and so that a sorted set with one score per priority keeps messages of equal priority in
enqueue order (members with equal scores sort by their bytes, and the header starts with the time).
Header reads it even when the envelope cannot be read, so that such a message can still be named.

An id in the usual UUID form, the largest part of a plain message, travels as "~" and 22 characters
(compact_id; lua/lib/wire.lua reads it back). The time takes 13 hex digits (µs until the year 2112),
not the 16 the format had before: such older messages start with "000", so they still sort before
the newer ones of their priority, and both forms are read. Not the other way round: a worker older
than this format cannot read these messages (it moves them to the dead letters, from where they can
be requeued), so in a deploy the workers go first.

Where a message waits with its queue, it is an entry "<score>|<queue>|<wire>" (the scheduled set,
the in-flight hash, where "!" in front marks one acknowledged as it started: lua/ack_early.lua);
handed to an idle consumer, "<seq>|<queue>|<wire>" (its inbox).
"""

from __future__ import annotations

import base64
import re
from typing import Any

from ..errors import DecodeError
from .arguments import MAX_DEPTH
from .serializers import json_loads

#: The first field: the enqueue time (µs, hex), then, in a signed message, its signature (signing.py).
TIME_DIGITS = 13
SIGNATURE_DIGITS = 32

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def compact_id(task_id: str) -> str:
    """A UUID as 23 characters: "~", its first 15 bytes in base64url (20), its last in hex (2), so
    that Lua turns it back with 5 lookups of 24 bits (lib/wire.lua). "~" is not allowed in an id
    (names.check_name): any other id travels as it is. Only the lower-case form, str(uuid4()), is
    compacted: full_id() must give back the very string."""
    if len(task_id) != 36 or not _UUID.fullmatch(task_id):
        return task_id
    hex_ = task_id.replace("-", "")
    return "~" + base64.urlsafe_b64encode(bytes.fromhex(hex_[:30])).decode("ascii") + hex_[30:]


def full_id(wire_id: str) -> str:
    """The id compact_id() wrote, as it was given."""
    if len(wire_id) != 23 or not wire_id.startswith("~"):
        return wire_id
    h = base64.urlsafe_b64decode(wire_id[1:21]).hex() + wire_id[21:]
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class Header:
    """The plain-text part of a wire message, readable even when the envelope is not."""

    __slots__ = ("enqueued_at", "deliveries", "id", "task", "envelope")

    def __init__(self, wire: str) -> None:
        try:
            enq, deliveries, wire_id, self.task, self.envelope = wire.split("|", 4)
            self.id = full_id(wire_id)
            if len(enq) == TIME_DIGITS + SIGNATURE_DIGITS:
                enq = enq[:TIME_DIGITS]
            self.enqueued_at = int(enq, 16) / 1_000_000
            self.deliveries = int(deliveries)
        except ValueError as exc:
            raise DecodeError(f"not a jobs message (bad header): {wire[:120]!r}") from exc

    def fields(self) -> dict[str, Any]:
        """The envelope as a dict, whichever form it was sent in (a bare array: the arguments alone)."""
        try:
            env = json_loads(self.envelope)
        except RecursionError as exc:
            raise DecodeError(f"message {self.id} ({self.task}) is nested too deeply to be read: lists and dicts may "
                              f"nest at most {MAX_DEPTH} levels (MAX_DEPTH) in its arguments") from exc
        if isinstance(env, list):
            return {"a": env}
        if not isinstance(env, dict):
            raise ValueError(f"an envelope is an object or an array, not {type(env).__name__}")
        return env

    @staticmethod
    def describe(wire: bytes) -> str:
        """"name[id]" from a wire's header alone, for a log line about a message not decoded."""
        parts = bytes(wire[:400]).split(b"|", 4)
        if len(parts) < 5:
            return "an unreadable message"
        return f"{parts[3].decode('utf-8', 'replace')}[{full_id(parts[2].decode('utf-8', 'replace'))}]"


def parse_entry(entry: bytes) -> tuple[bytes, str, bytes]:
    """(score, queue, wire) of an entry of the scheduled set or the in-flight hash."""
    if entry.startswith(b"!"):  # acknowledged as it started (lua/ack_early.lua): the same message
        entry = entry[1:]
    score, queue, wire = entry.split(b"|", 2)
    return score, queue.decode(), wire


def parse_handed(element: bytes) -> tuple[int, str, bytes]:
    """(seq, queue, wire) of a message handed to an idle consumer (lua/lib/deliver.lua)."""
    seq, queue, wire = element.split(b"|", 2)
    return int(seq), queue.decode(), wire


def entry_id(entry: bytes) -> str:
    """The task id an entry carries ("score|queue|enqueued|deliveries|id|..."), read from it alone."""
    parts = entry.split(b"|", 5)
    return full_id(parts[4].decode("utf-8", "replace")) if len(parts) > 5 else ""
