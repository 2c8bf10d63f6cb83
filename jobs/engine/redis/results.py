"""Results as Redis keeps them: a task's result document (written by the ack, lib/ack.lua), its
done channel (what get() sleeps on), a chord's member list, and the error-mail throttle.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..wire.serializers import json_dumps, json_loads
from .connection import Link
from .keys import Keys
from .part import Part
from .specs.operating import MAIL_THROTTLE, MailThrottleArgs, MailThrottleKeys

if TYPE_CHECKING:
    from .part import Core

class DoneWatch:
    """A subscription to one task's done channel, on a connection of its own: a waiter sleeps on
    it instead of polling (AsyncResult.get). Every read is bounded: the SUBSCRIBE reply by the
    socket timeout, a wait by its own timeout, so a Redis that vanishes cannot hang a caller."""

    def __init__(self, broker: Core, task_id: str, shards: Sequence[Keys] = ()) -> None:
        self.link = Link(broker.factory, socket_timeout=broker.config.enqueue_timeout)
        channels = [keys.done(task_id) for keys in shards] or [broker.keys.done(task_id)]
        try:
            self.link.call("SUBSCRIBE", *channels)
            for _ in channels[1:]:  # one confirmation per channel: read now, not taken for a notice later
                self.link.conn.read_response()
        except BaseException:
            self.link.close()
            raise

    def wait(self, seconds: float) -> None:
        """Until a notice arrives or `seconds` pass."""
        if self.link.conn.can_read(timeout=seconds):
            self.link.conn.read_response()

    def close(self) -> None:
        self.link.close()


class Results(Part):
    """broker.results: get(), with_attempts(), get_many(), forget(), watch(), chord members, mail_throttle()."""


    def get(self, task_id: str) -> bytes | None:
        """A task's stored result (results.decode reads it), or None."""
        raw: bytes | None = self.b.link.call("GET", self.b.keys.result(task_id))
        return raw

    def with_attempts(self, task_id: str) -> tuple[bytes | None, list[bytes]]:
        """A task's stored result and its attempts list (keys.attempts), in one round trip."""
        k = self.b.keys
        raw, entries = self.b.link.pipeline([("GET", k.result(task_id)), ("LRANGE", k.attempts(task_id), 0, -1)])
        return raw, list(entries)

    def forget(self, task_id: str) -> None:
        self.b.link.call("DEL", self.b.keys.result(task_id))

    def watch(self, task_id: str, shards: Sequence[Keys] = ()) -> DoneWatch:
        """A subscription to the task's done channel; with `shards`, to each shard's at once (a
        classic PUBLISH reaches every node of a Cluster, so this one connection hears them all)."""
        return DoneWatch(self.b, task_id, shards)

    def get_many(self, task_ids: Sequence[str]) -> list[bytes | None]:
        return list(self.b.link.call("MGET", *[self.b.keys.result(i) for i in task_ids])) if task_ids else []

    def set_chord_members(self, chord_id: str, ids: Sequence[str]) -> None:
        """The ids of a chord's members, in order, for its callback (written before they are sent)."""
        self.b.link.call("SET", self.b.keys.chord_members(chord_id), json_dumps(list(ids)), "PX", self.b.ttl_ms)

    def chord_members(self, chord_id: str) -> list[str] | None:
        """The ids of a chord's members; None once expired (RESULT_EXPIRES)."""
        raw = self.b.link.call("GET", self.b.keys.chord_members(chord_id))
        return None if raw is None else list(json_loads(raw))

    def mail_throttle(self, task: str, interval_ms: int) -> int:
        """Count a task's final failure; the failures a mail now stands for, or 0 if one went out
        less than `interval_ms` ago (lua/mail_throttle.lua)."""
        keys = MailThrottleKeys(throttle=self.b.keys.mail(task), failures=self.b.keys.mail_count(task))
        return int(MAIL_THROTTLE(self.b.link, keys, MailThrottleArgs(interval_ms=interval_ms)))
