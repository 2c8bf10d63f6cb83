"""BROKER_URL naming a Redis Cluster: `redis+cluster://[[user]:password@]host1:6379,host2:6379/`, any nodes
as seeds, `rediss+cluster://` for TLS, redis-py's options in the query string as for redis://.

This release keeps a whole site in one Cluster slot: every key carries the hash tag `{KEY_PREFIX}`
(keys.py), so the Lua scripts, which touch many keys at once, run on one master. The connection
factory (connection.py) is given that slot, and makes each new connection to the master that owns
it now, from the slot map read here (`CLUSTER SLOTS` of a seed). Several KEY_PREFIXes land on
different slots, so several sites can spread over the masters.

Why not redis-py's RedisCluster: jobs drives its connections with packed commands and reads replies
itself (connection.py: a call costs half of redis-py's client path), and a site lives in one slot, so
what it needs of a cluster client is only this: which master owns the slot, and to follow the
cluster's redirections when the slot moves (Link.redirected, in connection.py).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError

from .sentinel import host_port

SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
FORM = ("redis+cluster://[[user]:password@]host1:6379,host2:6379/ (any nodes of the cluster, comma-separated, as "
        "seeds; db 0 only; rediss+cluster:// for TLS)")
DEFAULT_PORT = 6379
#: Stands for a node's host in the URL redis-py parses; the factory puts the owner's address instead.
PLACEHOLDER = "cluster-node"


def non_local(exc: BaseException) -> bool:
    """Redis refused a script's touch of a key while the slot migrates ("Script attempted to access a non
    local key"): mid-run, after its writes, unless the call declared the guard (redirects.py), which makes
    the refusal come before the script runs."""
    return isinstance(exc, ResponseError) and "non local key" in str(exc)


def is_cluster(url: str) -> bool:
    return url.partition("://")[0].lower() in SCHEMES


def slot_of(tag: str) -> int:
    """The Cluster slot of the keys whose hash tag is `tag` (with its braces: "{jobs}")."""
    return int(key_slot(tag.encode()))


@dataclass(frozen=True)
class ClusterURL:
    """What a redis+cluster:// URL says: the seeds, and `node_url`, a redis:// (or rediss://) URL with
    everything for a node but its address, for redis-py to parse."""

    seeds: tuple[tuple[str, int], ...]
    node_url: str


def _bad(why: str) -> ValueError:
    """The URL itself is left out: it may hold passwords (config.py shows it redacted)."""
    return ValueError(f"{why} in a Cluster BROKER_URL; expected {FORM}")


def parse(url: str) -> ClusterURL:
    """Read a redis+cluster:// URL; ValueError, saying the expected form, for anything else."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in SCHEMES:
        raise _bad("not a redis+cluster:// or rediss+cluster:// scheme")
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    if not hosts:
        raise _bad("no node")
    seeds = tuple(host_port(h.strip(), DEFAULT_PORT, _bad) for h in hosts.split(","))
    if path.strip("/") not in ("", "0"):
        raise _bad(f"the db {path.strip('/')!r} (a Cluster has db 0 only)")
    pairs = parse_qsl(query, keep_blank_values=True)
    node_url = f"{SCHEMES[scheme.lower()]}://{userinfo}{at}{PLACEHOLDER}/0" + (f"?{urlencode(pairs)}" if pairs else "")
    return ClusterURL(seeds, node_url)


#: After a connection failed, how long before the slot map is read again (not once per retry of every
#: thread while a master is down).
STALE_PAUSE = 0.2

#: Guards the slot maps (threads refresh them on MOVED while others read). Made anew in a forked child:
#: one held by another thread of the parent at the fork would stay held.
_lock = threading.Lock()


def _new_lock() -> None:
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_new_lock)


class SlotMap:
    """Which master owns which slot, as the cluster said last (`CLUSTER SLOTS`), read from the node a
    MOVED named, else the masters known, else the seeds. A MOVED reply is the freshest word: its
    slot goes to the node it names even if the node asked has not heard of the move yet."""

    def __init__(self, where: ClusterURL, cls: Any, kwargs: dict[str, Any]) -> None:
        self.where = where
        self._class = cls
        self._kwargs = kwargs
        self._ranges: list[tuple[int, int, tuple[str, int]]] = []
        self._pinned: dict[int, tuple[str, int]] = {}
        self._stale = False
        self._read_at = 0.0  # when the map was last read (monotonic)

    def owner(self, slot: int) -> tuple[str, int]:
        """The master that owns `slot`; reads the map first if it has none for it. Raises a
        ConnectionError (callers retry it as Redis being away) if no node answers or none owns it."""
        if self._stale and time.monotonic() - self._read_at > STALE_PAUSE:
            try:
                self.refresh()
            except RedisConnectionError:
                pass  # no node answers: the map as it was, and the connection fails as it would
        found = self._lookup(slot)
        if found is None:
            self.refresh()
            found = self._lookup(slot)
        if found is None:
            raise RedisConnectionError(f"no master of the Redis Cluster serves slot {slot} (CLUSTER SLOTS of "
                                       f"{self._nodes()[0][0]}:{self._nodes()[0][1]}); is every slot assigned?")
        return found

    def moved(self, slot: int, host: str, port: int) -> None:
        """A MOVED reply: read the map again, from the node it names first, and keep its word for `slot`."""
        try:
            self.refresh(first=(host, port))
        except RedisConnectionError:
            pass  # the reply alone says where the slot is
        with _lock:
            self._pinned[slot] = (host, port)

    def lost(self) -> None:
        """A connection failed: its master may have died, and a replica taken its slots (a failover
        inside the cluster says nothing to the clients of the dead master). The next connection reads
        the map first, at most every STALE_PAUSE seconds."""
        self._stale = True

    def refresh(self, first: tuple[str, int] | None = None) -> None:
        self._read_at = time.monotonic()
        problems: list[str] = []
        for node in ([first] if first else []) + self._nodes():
            try:
                ranges = self._ask(node)
            except (RedisError, OSError) as exc:
                problems.append(f"{node[0]}:{node[1]}: {exc}")
                continue
            with _lock:
                self._ranges, self._pinned, self._stale = ranges, {}, False
            return
        raise RedisConnectionError("no node of the Redis Cluster answered CLUSTER SLOTS (" + "; ".join(problems) + ")")

    def _lookup(self, slot: int) -> tuple[str, int] | None:
        with _lock:
            pinned = self._pinned.get(slot)
            if pinned is not None:
                return pinned
            for start, end, node in self._ranges:
                if start <= slot <= end:
                    return node
        return None

    def _nodes(self) -> list[tuple[str, int]]:
        with _lock:
            known = [node for _, _, node in self._ranges]
        return list(dict.fromkeys([*known, *self.where.seeds]))

    def _ask(self, node: tuple[str, int]) -> list[tuple[int, int, tuple[str, int]]]:
        timeout = self._kwargs.get("socket_connect_timeout") or self._kwargs.get("socket_timeout")
        conn = self._class(**{**self._kwargs, "host": node[0], "port": node[1], "socket_timeout": timeout})
        try:
            conn.send_command("CLUSTER", "SLOTS")
            reply = conn.read_response()
        finally:
            conn.disconnect()
        ranges = []
        for start, end, master, *_ in reply:
            host = master[0].decode() if isinstance(master[0], bytes) else str(master[0])
            ranges.append((int(start), int(end), (host or node[0], int(master[1]))))  # "": the node asked
        return ranges

    def __repr__(self) -> str:
        return "<cluster seeds " + ",".join(f"{h}:{p}" for h, p in self.where.seeds) + ">"
