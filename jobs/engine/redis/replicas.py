"""Durable writes: a write that matters waits for replicas (JOBS["ENQUEUE_REPLICAS"]).

Redis replicates asynchronously: a write the master acknowledged and had not yet sent to a replica
is lost if that replica is promoted (a failover under Sentinel, a managed service's switch-over).
For a send, that is a task silently gone; for a revocation or a pause, one that comes back to life;
for beat's send, a periodic run that never happens. With ENQUEUE_REPLICAS = N, each such write is
followed by `WAIT N ms`, which returns how many replicas have everything this connection wrote: the
call returns only once N have it. Every such write is a script, and its WAIT goes in the same write
(pipelined: no extra round trip, only the replication's own time), on the same connection, which on
a Redis Cluster follows the script wherever a redirection sends it (call_and_wait).

Fewer than N within the time is ReplicasBehind, a timeout: the caller's with_retry repeats the whole
call, which is safe (a task id is sent once; a revoke or pause again is a no-op), and after
ENQUEUE_TIMEOUT says so (BrokerUnavailable). WAIT does not make Redis strongly consistent (a replica
that acknowledged can still be the one not promoted), but with N replicas acknowledged and Sentinel
promoting the most up-to-date one, a failover loses none of these writes.
"""

from __future__ import annotations

from typing import Any

from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .connection import Link, pack
from .redirects import together

#: How long one WAIT may take (ms) before the call is tried again by with_retry: a replica that
#: lags by more than this is a replica in trouble.
WAIT_MS = 1000


def wait_ms(socket_timeout: float) -> int:
    """WAIT_MS, or less on a link whose replies must come sooner (the senders' link times out after
    ENQUEUE_TIMEOUT): half of it, so a WAIT that runs its course is an answer, not a timeout."""
    return max(1, min(WAIT_MS, int(socket_timeout * 500)))


class ReplicasBehind(RedisTimeoutError):
    """Fewer replicas than JOBS["ENQUEUE_REPLICAS"] confirmed a write in time. The write is on the
    master; repeating the call is safe."""

    def __init__(self, acknowledged: int, wanted: int, wait_ms: int) -> None:
        super().__init__(f"{acknowledged} of the {wanted} replica(s) ENQUEUE_REPLICAS asks for confirmed the "
                         f"write within {wait_ms} ms (it is on the master; a failover now could lose it)")
        self.acknowledged, self.wanted = acknowledged, wanted


def confirm(acknowledged: Any, wanted: int, wait_ms: int) -> None:
    if int(acknowledged) < wanted:
        raise ReplicasBehind(int(acknowledged), wanted, wait_ms)


def call_and_wait(link: Link, count: int, command: bytes, source: str, wanted: int, wait_ms: int = WAIT_MS) -> Any:
    """A script's packed command (scripts.LuaSource.call's) and `WAIT wanted wait_ms` in one write;
    the script's reply once `wanted` replicas have it. WAIT counts what its own connection wrote, so
    the two go together wherever a Redis Cluster redirects the script (redirects.together): a WAIT left
    on the node that refused it would answer at once, for a write it never saw. A script Redis lost
    (NOSCRIPT) is loaded, on the node that said so, and both sent again."""
    body = b"*%d\r\n%b*3\r\n%b" % (count, command, pack(("WAIT", wanted, wait_ms)))

    def both(conn: Any) -> tuple[Any, Any]:
        conn.send_packed_command([body])
        try:
            reply = conn.read_response()
        except ResponseError as refused:
            _discard(conn)  # the WAIT's reply: the connection stays in step, the script's error is the news
            raise refused
        return reply, conn.read_response()

    for _ in range(2):
        try:
            reply, acknowledged = together(link, both)
        except NoScriptError:
            link.call("SCRIPT", "LOAD", source)
            continue
        confirm(acknowledged, wanted, wait_ms)
        return reply
    raise NoScriptError("the script was loaded and is still missing (SCRIPT FLUSH in a loop?)")


def _discard(conn: Any) -> None:
    try:
        conn.read_response()
    except ResponseError:
        pass
