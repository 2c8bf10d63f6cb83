"""Signed messages (JOBS["SIGNING_KEYS"]): a worker runs only what a holder of a key sent, so that
whoever can write to Redis, but does not have the key, cannot make it run a task.

The signature is an HMAC-SHA256 of the message, truncated to 128 bits (NIST SP 800-107; RFC 4868
uses the same length), 32 hex digits written right after the enqueue time, in the header's first
field: "<enqueued, 13 hex><signature, 32 hex>|<deliveries>|<id>|<task>|<envelope>". The scripts read
that field as hex (lib/wire.lua, lib/requeue.lua) and keep it as it is, so no Lua script had to
change, a queue still sorts equal priorities by age (the time comes first), and a message of an
unsigned site (no keys) is exactly what it was. 32 bytes more a message, not the 45 of a separate
base64 field, because every waiting message is a sorted-set member (message.py).

What the signature covers is every byte that decides what runs: the enqueue time, the id, the task
name and the whole envelope (arguments, keyword arguments, options, the workflow that follows). Not
the delivery count, which the scripts raise when a lease runs out (lib/requeue.lua) and set back to 0
when a dead letter is requeued (dead_requeue.lua); and not the `"alone":1,` that dead_requeue.lua puts
in front of the envelope of a step whose workflow has ended: it only takes a workflow away (message.py
decode), so it can make a signed message run less, never something else. The queue and the score are
where the message is, not in it: they are not covered (docs/security.md).

A worker checks the signature before anything is deserialised: the bytes as they came from Redis,
against each key in turn (the first signs, the others are being rotated out), with
hmac.compare_digest. A message that is not signed, or whose signature no key makes, raises
BadSignature, and goes to the dead letters with the reason "bad-signature: ..." without being read
further.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from ..errors import DecodeError
from .header import SIGNATURE_DIGITS, TIME_DIGITS, Header

SIGNED_STAMP = TIME_DIGITS + SIGNATURE_DIGITS
_BYTES = SIGNATURE_DIGITS // 2
#: What dead_requeue.lua inserts in front of a (JSON object) envelope, after the header's last "|".
_ALONE = b'{"alone":1,'
#: The reason's first word in the dead letters (docs/failures.md).
REASON = "bad-signature"


class BadSignature(DecodeError):
    """The message is not signed by any key of JOBS["SIGNING_KEYS"]; it was not read, and not run."""


def tag(key: bytes, signed: bytes) -> str:
    """The signature of `signed` (the message without its delivery count) with `key`, as hex."""
    return hmac.digest(key, signed, "sha256")[:_BYTES].hex()


def sign(stamp: str, deliveries: int, rest: str, key: bytes | None) -> str:
    """The wire of a message: "<stamp>|<deliveries>|<rest>" (rest: "<id>|<task>|<envelope>"), the
    stamp (the enqueue time) followed by the signature when there is a key."""
    if key is None:
        return f"{stamp}|{deliveries}|{rest}"
    signature = tag(key, f"{stamp}|{rest}".encode("utf-8", "surrogatepass"))
    return f"{stamp}{signature}|{deliveries}|{rest}"


def verify(wire: bytes | str, keys: Sequence[bytes]) -> None:
    """Nothing if one of `keys` signed `wire` (the bytes Redis holds), or if there are no keys (the
    site does not sign); else BadSignature, saying why without reading more than the header."""
    if not keys:
        return
    if isinstance(wire, str):
        wire = wire.encode("utf-8", "surrogatepass")
    first = wire.find(b"|")
    second = wire.find(b"|", first + 1) if first >= 0 else -1
    if second < 0 or first != SIGNED_STAMP:
        raise BadSignature(f"{REASON}: {_named(wire)} is not signed; this worker runs only messages signed with "
                           "a key of JOBS['SIGNING_KEYS'] (was it written to Redis by hand, by another program, or "
                           "sent by a process without the key?)")
    rest = wire[second + 1:]
    task_end = rest.find(b"|", rest.find(b"|") + 1)  # the envelope starts after "<id>|<task>|"
    if task_end > 0 and rest.startswith(_ALONE, task_end + 1):
        # A dead letter requeued to run alone (dead_requeue.lua): signed without it.
        rest = rest[:task_end + 1] + b"{" + rest[task_end + 1 + len(_ALONE):]
    signed = wire[:TIME_DIGITS] + b"|" + rest
    given = wire[TIME_DIGITS:SIGNED_STAMP]
    for key in keys:
        if hmac.compare_digest(tag(key, signed).encode("ascii"), given):
            return
    raise BadSignature(f"{REASON}: {_named(wire)} is signed, but by no key of JOBS['SIGNING_KEYS'] (changed "
                       "after it was signed, or signed with a key not, or no longer, in the list)")


def _named(wire: bytes) -> str:
    """The message as its header names it (not trusted: only named)."""
    named = Header.describe(wire)
    return named if named.startswith("an unreadable") else f"message {named}"
