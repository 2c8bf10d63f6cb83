"""Following a Redis Cluster's redirections, for every exchange of a Link (connection.py).

Why repeating the command is safe: each of these replies comes before the command runs. A node
checks where a command's keys live before it executes anything (cluster.c, getNodeByQuery), and
answers instead of running it:

    MOVED slot host:port   the slot is another master's now: read the slot map again, drop the
                           connection, send the same command to the new owner
    ASK slot host:port     the slot is migrating and these keys have left: send ASKING, then the same
                           command, once, on a connection to the target; the map stays as it is (the
                           slot is still the source's until the migration ends)
    TRYAGAIN               a multi-key command while the slot migrates, with its keys on both sides
    CLUSTERDOWN            the cluster lost a master (or its quorum): both pass, so the command is
                           tried again after a short pause, within the call's time budget (its socket
                           timeout: ENQUEUE_TIMEOUT for sends), and then raised as before

So a send redirected is a send that ran once, on the node that owns its keys; nothing is doubled,
and nothing is lost, since nothing had run. A blocking wait (BLPOP) redirected ends instead, as at its
timeout: a worker's wait is a hint to fetch, and its next wait goes to the new owner. So does one that
Redis ends with UNBLOCKED when its master becomes a replica (a failover inside the cluster), and a
connection that fails makes the next one read the slot map first (cluster.SlotMap.lost): a master that
died says nothing, its replica takes its slots.

A script is checked by the keys it declares, and many build more inside (a queue named inside a
message, a result key from a revoked id, the keys an ack's workflow carries). While its slot migrates,
Redis refuses a script's touch of any key the node lacks, one that left or one never made ("Script
attempted to access a non local key"), as the script runs: after the writes it made before, which
Redis does not undo. So on a Cluster every script call also declares the guard (keys.py: a key no one
writes; scripts.py appends it): while the slot migrates, the source lacks it, so it answers TRYAGAIN
(or ASK, if it lacks every key, and then the target answers TRYAGAIN: a multi-key call with keys
missing) before the script runs, whatever the script would touch. No script runs mid-migration, on
either node; each waits, as TRYAGAIN above, for the move to end. A "non local key" that comes all the
same can only be a refusal before anything ran, and is followed as TRYAGAIN too (refusal()); on a
plain redis:// link (no guard) it is raised as it is.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from redis.exceptions import AskError, ClusterDownError, MovedError, NoScriptError, ResponseError, TryAgainError

from .cluster import non_local

#: The replies of a cluster that say "not here, not now": the command did not run.
REDIRECTS = (AskError, TryAgainError, ClusterDownError)  # MovedError is an AskError
#: How many MOVED one call follows before it gives up (a map that keeps changing under it); ASK and
#: TRYAGAIN are followed until the call's time budget is spent (a migration ends, the keys arrive).
MAX_REDIRECTS = 16


class NotAClusterURL(ResponseError):
    """A server reached by a plain redis:// URL answered MOVED: it is a node of a Redis Cluster that
    does not own jobs' keys (or no longer does: the slot moved)."""


class _Link(Protocol):
    _factory: Any
    _overrides: dict[str, Any]

    def _connection(self) -> Any: ...

    def _drop(self, conn: Any) -> None: ...

    def _drop_if_demoted(self, conn: Any, exc: ResponseError) -> None: ...


def follow(link: _Link, exc: ResponseError, conn: Any, again: Callable[[Any], Any], blocking: bool = False) -> Any:
    """`again(conn)` repeats the exchange that `conn` answered with the redirection `exc`, as the
    module docstring says; returns its reply, or raises what it finally gets."""
    budget = float(link._overrides.get("socket_timeout") or link._factory.socket_timeout or 10.0)
    deadline = time.monotonic() + budget
    pause = 0.01
    moves = 0
    while True:
        if isinstance(exc, MovedError):
            moves += 1
            if moves > MAX_REDIRECTS:
                raise exc
            _moved(link, exc, conn)
            if blocking:
                return None
        elif not isinstance(exc, AskError):
            left = deadline - time.monotonic()
            if left <= 0:
                raise exc
            time.sleep(min(pause, left))  # the migration or the failover has no event to await
            pause = min(pause * 2, 0.05)  # a retry costs a round trip; waiting longer only delays
        conn = link._connection()
        try:
            return _asking(link, exc, again) if type(exc) is AskError else _again(link, conn, again)
        except REDIRECTS as next_exc:
            exc = next_exc


def together(link: _Link, exchange: Callable[[Any], Any]) -> Any:
    """`exchange(conn)`, commands that must run on one connection (a script, then the WAIT that counts
    the replicas holding what that connection wrote: replicas.py), on the link's connection, and
    redirected as one: whichever node the cluster sends the first to runs the rest too, on the same
    connection. `exchange` reads every reply it sent for before it raises, so the connection stays in step."""
    conn = link._connection()
    try:
        return exchange(conn)
    except REDIRECTS as exc:
        return follow(link, exc, conn, exchange)
    except ResponseError as exc:
        redirect = refusal(link, exc)
        if redirect is not exc:  # a script refused before it ran (the module docstring)
            return follow(link, redirect, conn, exchange)
        link._drop_if_demoted(conn, exc)
        raise
    except BaseException:
        link._drop(conn)
        raise


def refusal(link: _Link, exc: ResponseError) -> ResponseError:
    """`exc`, or, for a script's "non local key" on a Cluster link, a TryAgainError to follow: with the
    guard declared, that refusal came before the script wrote anything (the module docstring)."""
    if link._factory.guard and non_local(exc):
        return TryAgainError(f"a script's key is in a slot that migrates ({exc})")
    return exc


def _again(link: _Link, conn: Any, again: Callable[[Any], Any]) -> Any:
    try:
        return again(conn)
    except ResponseError as exc:
        raise refusal(link, exc) from None  # a whole reply: the connection stays in step
    except BaseException:
        link._drop(conn)
        raise


def _asking(link: _Link, exc: AskError, again: Callable[[Any], Any]) -> Any:
    """The exchange once on a connection of its own to the node an ASK named, after ASKING."""
    side = link._factory(**{**link._overrides, "host": exc.host, "port": exc.port})
    try:
        side.send_command("ASKING")
        side.read_response()
        return again(side)
    except NoScriptError as missing:
        # The target of a migration lacks the script, and loading it there through ASKING is not ours
        # to do (the caller loads scripts on its own connection): wait for the migration to end, when a
        # MOVED leads to the target as the owner, where the caller can load it.
        raise TryAgainError(f"NOSCRIPT on the target of a migration ({missing})") from missing
    finally:
        side.disconnect()


def exchange(conn: Any, args: tuple[Any, ...], timeout: float | None) -> Any:
    """A command sent again (Link.call's exchange, without its spin: this is not the hot path)."""
    conn.send_command(*args)
    return conn.read_response() if timeout is None else conn.read_response(timeout=timeout)


def exchange_packed(conn: Any, count: int, body: bytes) -> Any:
    """A packed command sent again (Link.call_packed's exchange)."""
    conn.send_packed_command([b"*%d\r\n%b" % (count, body)])
    return conn.read_response()


def _moved(link: _Link, exc: MovedError, conn: Any) -> None:
    factory = link._factory
    link._drop(conn)
    if factory.cluster is None:
        where = f"{getattr(conn, 'host', '?')}:{getattr(conn, 'port', '?')}"
        raise NotAClusterURL(
            f"Redis at {where} is a node of a Redis Cluster and does not serve jobs' keys (it answered MOVED "
            f"{exc.slot_id} {exc.host}:{exc.port}). A redis:// URL reaches one node only; set "
            f"JOBS['BROKER_URL'] = 'redis+cluster://{where}/' to follow the cluster wherever the slot moves."
        ) from exc
    factory.moved(exc)
