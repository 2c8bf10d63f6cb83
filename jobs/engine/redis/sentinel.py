"""BROKER_URL naming a Redis Sentinel service: `redis+sentinel://[[user]:password@]host1:26379,host2:26379/
mymaster/0`, `rediss+sentinel://` for TLS, the sentinels' own credentials as `?sentinel_username=` and
`?sentinel_password=`.

Why jobs asks Sentinel itself rather than using redis-py's SentinelManagedConnection: jobs drives its
connections with send_packed_command, and on redis-py 8.x that path skips SentinelManagedConnection's
connect() and silently talks to localhost:6379. So the factory (connection.py) asks here for the
master's address each time it makes a connection, and makes a plain Connection (or SSLConnection)
to that address. A Link makes a new connection after any error, so every process follows a failover
on its next call, without a restart; a connection to a demoted master answers READONLY, which drops
it too (connection.Link).

Why each process also listens to the sentinels' +switch-master: after a planned failover the old
master stays up, and Sentinel demotes it (closing its clients) only some 10 s later. Until then the
connections to it keep working there while new ones go to the new master: a split in which tasks
wait and writes to the old master are lost at its demotion. On +switch-master, the connections this
process made to the old master are shut, as the demotion would, but at once.
"""

from __future__ import annotations

import inspect
import os
import socket
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

import redis
from redis.exceptions import ReadOnlyError, ResponseError
from redis.sentinel import Sentinel

SCHEMES = {"redis+sentinel": "redis", "rediss+sentinel": "rediss"}
FORM = ("redis+sentinel://[[user]:password@]host1:26379,host2:26379/mymaster/0 (the sentinels comma-separated, "
        "then the service name, then the db; rediss+sentinel:// for TLS; the sentinels' own password as "
        "?sentinel_password=)")
DEFAULT_PORT = 26379
#: Stands for the master's host in the URL redis-py parses; the factory replaces it by the address
#: Sentinel gives before any connection is made.
PLACEHOLDER = "sentinel-master"
#: Options for the connections to the sentinels, taken from BROKER_URL's query string.
SENTINEL_OPTIONS = ("sentinel_username", "sentinel_password")


def is_sentinel(url: str) -> bool:
    return url.partition("://")[0].lower() in SCHEMES


@dataclass(frozen=True)
class SentinelURL:
    """What a redis+sentinel:// URL says: where the sentinels are, the service, and `master_url`, a
    redis:// (or rediss://) URL with everything for the master but its address, for redis-py to parse."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    master_url: str
    username: str | None = None
    password: str | None = None


def _bad(url: str, why: str) -> ValueError:
    """The URL itself is left out: it may hold passwords (config.py shows it redacted)."""
    return ValueError(f"{why} in a Sentinel BROKER_URL; expected {FORM}")


def host_port(text: str, default_port: int, bad: Callable[[str], ValueError]) -> tuple[str, int]:
    """One "host[:port]" of a URL that lists several (a Sentinel's sentinels, a Cluster's seeds), IPv6
    in brackets; bad(why) makes the error, which names the URL form it belongs to."""
    if text.startswith("["):  # [::1]:26379
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = text.rpartition(":") if ":" in text else (text, "", "")
    if not host:
        raise bad(f"no host in {text!r}")
    if not port:
        return host, default_port
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise bad(f"the port of {text!r} is not a number from 1 to 65535")
    return host, int(port)


def parse(url: str) -> SentinelURL:
    """Read a redis+sentinel:// URL; ValueError, saying the expected form, for anything else."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in SCHEMES:
        raise _bad(url, "not a redis+sentinel:// or rediss+sentinel:// scheme")
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    if not hosts:
        raise _bad(url, "no sentinel host")
    sentinels = tuple(host_port(h.strip(), DEFAULT_PORT, lambda why: _bad(url, why)) for h in hosts.split(","))
    parts = path.strip("/").split("/") if path.strip("/") else []
    if not parts or len(parts) > 2:
        raise _bad(url, "the service name (and the db) after the sentinels, as /mymaster/0, missing or"
                        " followed by more")
    db = parts[1] if len(parts) == 2 else "0"
    if not db.isdigit():
        raise _bad(url, f"the db {db!r} is not a number")
    pairs = parse_qsl(query, keep_blank_values=True)
    own = {k: v for k, v in pairs if k in SENTINEL_OPTIONS}
    rest_query = urlencode([(k, v) for k, v in pairs if k not in SENTINEL_OPTIONS])
    master_url = f"{SCHEMES[scheme.lower()]}://{userinfo}{at}{PLACEHOLDER}/{db}" + (f"?{rest_query}" if rest_query
                                                                                    else "")
    return SentinelURL(sentinels, parts[0], master_url, own.get("sentinel_username") or None,
                       own.get("sentinel_password") or None)


#: Guards the finders' sets of connections (a thread connects while the listener reads them). Made
#: anew in a forked child: one held by another thread of the parent at the fork would stay held.
_lock = threading.Lock()


def _new_lock() -> None:
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_new_lock)

#: What redis.Redis() takes of a connection's options, for the clients that talk to the sentinels.
_CLIENT_ARGS = frozenset(inspect.signature(redis.Redis.__init__).parameters)


class MasterFinder:
    """Asks the sentinels (in turn, the last one that answered first) for the service's master.
    Raises redis.sentinel.MasterNotFoundError, a ConnectionError, when none knows a master that is up,
    as during a failover: callers treat it as Redis being away (retried with backoff)."""

    def __init__(self, where: SentinelURL, master_kwargs: dict[str, Any], tls: bool) -> None:
        self.where = where
        self._made: weakref.WeakSet[Any] = weakref.WeakSet()  # connections to a master, to shut on a switch
        self._listener_pid = 0
        # The sentinels are asked with the master's socket and TLS options, but their own credentials;
        # a sentinel that hangs must not hold up the search longer than a connect.
        kwargs = {k: v for k, v in master_kwargs.items()
                  if k in _CLIENT_ARGS and (k.startswith("socket_") or (tls and k.startswith("ssl_")))}
        kwargs["socket_timeout"] = kwargs.get("socket_connect_timeout") or kwargs.get("socket_timeout")
        kwargs.update(protocol=2, ssl=tls, username=where.username, password=where.password)
        self.sentinel = Sentinel(list(where.sentinels), sentinel_kwargs=kwargs)

    def __call__(self) -> tuple[str, int]:
        host, port = self.sentinel.discover_master(self.where.service)
        return str(host), int(port)

    def connection(self, cls: Any, kwargs: dict[str, Any]) -> Any:
        """A new connection of redis-py's class `cls` to the master the sentinels name now; the first
        in this process (a forked worker child too) starts the listener for switches."""
        kwargs["host"], kwargs["port"] = self()
        conn = cls(**kwargs)
        with _lock:
            if self._listener_pid != os.getpid():
                self._listener_pid = os.getpid()
                self._made = weakref.WeakSet()  # a forked child's: the parent's connections are not its own
                threading.Thread(target=_listen, args=(weakref.ref(self),), name="jobs-sentinel-switch",
                                 daemon=True).start()
            self._made.add(conn)
        return conn

    def switched(self, data: Any, source: Any) -> None:
        """A +switch-master message ("service old-ip old-port new-ip new-port") from the sentinel
        `source`: shut this process's connections to the old master. A call on one fails as on a
        connection Redis closed; its Link drops it, and the next connection goes to the new master:
        `source` is asked first, since the other sentinels may learn of the switch a few seconds later
        and name the old master meanwhile."""
        words = (data.decode() if isinstance(data, bytes) else str(data)).split()
        if len(words) != 5 or words[0] != self.where.service:
            return
        old = (words[1], words[2])
        sentinels = self.sentinel.sentinels
        if source in sentinels:
            first = sentinels.index(source)
            sentinels[0], sentinels[first] = sentinels[first], sentinels[0]
        with _lock:
            made = list(self._made)
        for conn in made:
            sock = getattr(conn, "_sock", None)
            if sock is not None and (str(conn.host), str(conn.port)) == old:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def subscribe(self, turn: int) -> tuple[Any, Any]:
        """A +switch-master subscription on one of the sentinels (the turn-th, round the list), and
        that sentinel's client."""
        sentinels = self.sentinel.sentinels
        source = sentinels[turn % len(sentinels)]
        pubsub = source.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe("+switch-master")
        except BaseException:
            pubsub.close()
            raise
        return pubsub, source

    def __repr__(self) -> str:
        hosts = ",".join(f"{h}:{p}" for h, p in self.where.sentinels)
        return f"<sentinels {hosts} service {self.where.service!r}>"


def demoted(exc: ResponseError) -> bool:
    """A reply from a server that is now a replica (READONLY, or UNBLOCKED for a BLPOP it ended when
    it was demoted), or from a master whose replica was promoted away (NOREPLICAS, where Redis has
    min-replicas-to-write): kept, the connection would fail or wait there forever; dropped (by
    connection.Link), the next connection goes to the master Sentinel names (or, without Sentinel,
    to the same address, which costs one reconnect)."""
    return isinstance(exc, ReadOnlyError) or str(exc).startswith(("READONLY", "UNBLOCKED", "NOREPLICAS"))


def _listen(ref: weakref.ref[MasterFinder]) -> None:
    """The listener thread: one subscription at a time, to the next sentinel when one fails. It holds
    its finder only weakly, so it ends once the broker that made it is gone (a settings change)."""
    pubsub: Any = None
    source: Any = None
    turn = 0
    pause = threading.Event()
    while (finder := ref()) is not None:
        try:
            if pubsub is None:
                pubsub, source = finder.subscribe(turn)
            message = pubsub.get_message(timeout=1.0)
            if message and message.get("type") == "message":
                finder.switched(message.get("data"), source)
        except (redis.RedisError, OSError):
            if pubsub is not None:
                pubsub.close()
            pubsub, turn = None, turn + 1
            pause.wait(0.5)  # between sentinels that do not answer: not a tight loop
        del finder
    if pubsub is not None:
        pubsub.close()
