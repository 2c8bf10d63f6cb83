"""Where a new connection goes: the factory that turns BROKER_URL and BROKER_OPTIONS into redis-py
Connection objects (to the URL's server, to the master Sentinel names now, or to the master that owns
the broker's slot of a Redis Cluster now), and redact(), the URL as logs may show it."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
from redis.exceptions import MovedError

from . import cluster, sentinel

DEFAULT_OPTIONS: dict[str, Any] = {
    "socket_connect_timeout": 2.0,
    "socket_timeout": 10.0,
    "socket_keepalive": True,
    "health_check_interval": 0,
    # RESP2: replies (SUBSCRIBE above all) have one shape on every redis-py and server version.
    "protocol": 2,
}


class ConnectionFactory:
    """Turns a broker URL and options into new, unconnected redis-py Connection objects. With a
    redis+sentinel:// URL, each new connection is to the master the sentinels name at that moment
    (sentinel.py), so a Link that reconnects after a failover reaches the new master; with a
    redis+cluster:// URL, to the master that owns `slot` now (cluster.py: the slot of the broker's
    hash tag), so a Link that follows a MOVED reaches the new owner. `guard`, on a Cluster only: the key
    every script call declares after its own (scripts.py), packed; b"" elsewhere."""

    def __init__(self, url: str, options: dict[str, Any] | None = None, slot: int | None = None,
                 guard: str = "") -> None:
        where = sentinel.parse(url) if sentinel.is_sentinel(url) else None
        spread = cluster.parse(url) if cluster.is_cluster(url) else None
        pool = redis.ConnectionPool.from_url(where.master_url if where else spread.node_url if spread else url,
                                             **{**DEFAULT_OPTIONS, **(options or {})})
        self.url = url
        self.slot = slot
        self._class = pool.connection_class
        self._kwargs = dict(pool.connection_kwargs)
        self.master = (sentinel.MasterFinder(where, self._kwargs, issubclass(self._class, redis.SSLConnection))
                       if where else None)
        self.cluster = cluster.SlotMap(spread, self._class, self._kwargs) if spread else None
        self.guard = b"$%d\r\n%b\r\n" % (len(guard.encode()), guard.encode()) if spread and guard else b""

    def __call__(self, **overrides: Any) -> Any:
        kwargs = {**self._kwargs, **overrides}
        if self.cluster is not None and "host" not in overrides:  # an ASK names its node
            kwargs["host"], kwargs["port"] = (self.cluster.owner(self.slot) if self.slot is not None
                                              else self.cluster.where.seeds[0])
        if self.master is None:
            return self._class(**kwargs)
        return self.master.connection(self._class, kwargs)

    def lost(self) -> None:
        """A connection this factory made failed: on a Cluster, its master may be gone (cluster.py)."""
        if self.cluster is not None:
            self.cluster.lost()

    def moved(self, exc: MovedError) -> None:
        """A MOVED reply came: the slot map is read again (a Cluster URL only; see redirects.py)."""
        if self.cluster is not None:
            self.cluster.moved(exc.slot_id, exc.host, exc.port)

    def check(self) -> None:
        """Raise ValueError or TypeError for options the connection class refuses; connects nowhere."""
        self._class(**self._kwargs)

    @property
    def socket_timeout(self) -> float | None:
        return self._kwargs.get("socket_timeout")


def redact(url: str) -> str:
    """The URL with its passwords replaced, for banners and logs: the one before the host, and any
    in the query string (password=, ssl_password= for an encrypted client key)."""
    base, mark, query = url.partition("?")
    if "password" in query:
        pairs = [(k, "***" if "password" in k else v) for k, v in parse_qsl(query, keep_blank_values=True)]
        url = base + mark + urlencode(pairs, safe="/*")
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, hosts = parts.netloc.rpartition("@")  # hosts as written: a Sentinel URL lists several
    return urlunsplit(parts._replace(netloc=f"{userinfo.partition(':')[0]}:***@{hosts}"))
