"""Messages written into Redis by hand, signed the way the producer signs (wire/signing.py), so that a
test of what a worker does with a broken envelope, a bad option or an odd header still tests that,
and not that the message has no signature (every message is signed unless JOBS["SIGNING_KEYS"] is []).
"""

from __future__ import annotations

from jobs.engine.setup import app as engine_app
from jobs.engine.wire.signing import tag


def signed(wire: bytes | str, key: bytes | None = None) -> bytes:
    """`wire` ("<time>|<deliveries>|<id>|<task>|<envelope>", written by hand) with its signature after
    the time, by `key` or this process's first signing key; unchanged when there is no key, and when
    it has no two "|" to sign between (such a message is refused for its header first)."""
    raw = wire.encode() if isinstance(wire, str) else wire
    key = key if key is not None else engine_app.current().config.signing_key
    parts = raw.split(b"|", 2)
    if key is None or len(parts) < 3:
        return raw
    stamp, deliveries, rest = parts
    return stamp + tag(key, stamp + b"|" + rest).encode() + b"|" + deliveries + b"|" + rest


def signed_entry(entry: bytes, key: bytes | None = None) -> bytes:
    """An entry "<score>|<queue>|<wire>" of the scheduled set, its wire signed as signed() does."""
    parts = entry.split(b"|", 2)
    if len(parts) < 3:
        return entry
    return parts[0] + b"|" + parts[1] + b"|" + signed(parts[2], key)
