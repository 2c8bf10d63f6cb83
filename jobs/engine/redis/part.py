"""What every part of the broker shares: the broker's connections, keys and settings (broker.py).

A part reaches them through a Core, the broker as its parts see it: named here as a protocol, so
that broker.py, which makes the parts, is imported by none of them.
"""

from __future__ import annotations

from typing import Any, Protocol

from .connection import ConnectionFactory, Link
from .keys import Keys


class Settings(Protocol):
    """What the broker reads of the settings (setup/config.py's Config is one): named here so that
    the Redis layer depends on no layer above it."""

    @property
    def key_prefix(self) -> str: ...

    @property
    def broker_url(self) -> str: ...

    @property
    def broker_options(self) -> dict[str, Any]: ...

    @property
    def enqueue_timeout(self) -> float: ...

    @property
    def enqueue_replicas(self) -> int: ...

    @property
    def result_expires(self) -> float: ...

    @property
    def lease_seconds(self) -> float: ...

    @property
    def send_dedup_seconds(self) -> float: ...

    @property
    def history(self) -> bool: ...

    @property
    def history_backlog(self) -> int: ...

    @property
    def message_max_bytes(self) -> int: ...

    @property
    def dead_letters_max(self) -> int: ...

    @property
    def max_deliveries(self) -> int: ...

    @property
    def signing_key(self) -> bytes | None: ...


class Core(Protocol):
    """The broker, as its parts use it."""

    config: Settings
    keys: Keys
    factory: ConnectionFactory
    ttl_ms: str
    lease_ms: int
    dedup_ms: int
    history_max: int

    @property
    def link(self) -> Link: ...

    def wait_link(self) -> Link: ...


class Part:
    """One concern of the broker (sending, deliveries, leases...), reached as broker.<concern>. It
    keeps no connection of its own: self.b is the broker whose link (one per thread, or a consumer's
    private one) its calls go through."""

    __slots__ = ("b",)

    def __init__(self, broker: Core) -> None:
        self.b = broker
