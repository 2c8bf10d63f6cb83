"""Connections to Redis: one per thread for commands, a separate one for blocking waits.

We use redis-py for what it does well (URLs with rediss://, passwords and db numbers, TLS, the
RESP parser) but not its per-command client path, which costs about 60 µs of CPU per call against
35 µs for a connection driven directly (measured with redis-py 8.1). A task costs us one or two
calls, so that difference is most of our budget.

Which errors pass and which do not (TRANSIENT, RETRYABLE, fails_on_message) are here too; where a new
connection goes is factory.py, what a refused TLS handshake means is tls.py, how a call is tried again,
backoff.py, and how a Redis Cluster's redirections are followed, redirects.py.
"""

from __future__ import annotations

import os
import select
import socket
import ssl
import threading
import time
import weakref
from collections import deque
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MovedError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from . import sentinel
from .factory import DEFAULT_OPTIONS as DEFAULT_OPTIONS
from .factory import ConnectionFactory as ConnectionFactory
from .factory import redact as redact
from .redirects import REDIRECTS, exchange, exchange_packed, follow, refusal

#: Errors after which the connection is dropped and the call may be tried again later.
TRANSIENT = (RedisConnectionError, RedisTimeoutError, OSError)
#: What a worker's loops retry with backoff: the above, and errors Redis answers with (OOM,
#: READONLY after a failover, MISCONF...), which also pass; a worker that exits on them would only
#: be restarted into the same error.
RETRYABLE = (*TRANSIENT, ResponseError)

#: Error codes Redis answers with about itself, not about a message: they pass (a failover ends, the
#: disk frees up, the data set loads), so the step is tried again later. redis-py maps most of them to
#: subclasses of ResponseError; these stay plain ResponseErrors whose text starts with the code.
SERVER_STATE_CODES = frozenset({"MISCONF", "BUSY", "NOREPLICAS", "MASTERDOWN", "LOADING", "READONLY", "OOM",
                                "TRYAGAIN", "CLUSTERDOWN", "NOSCRIPT", "UNBLOCKED", "NOPERM", "NOAUTH"})


def fails_on_message(exc: BaseException) -> bool:
    """A Redis error that is about this message, not about Redis: a script that failed on what the
    message (or one of its keys) holds, such as a rate budget key of the wrong type. Tried again it
    fails again, forever, and everything queued behind it waits; so the message goes to the dead
    letters with the error as its reason. Connection errors and Redis's own states (failover,
    out of memory, loading, a full disk) are not: they pass, and the step is retried."""
    if type(exc) is not ResponseError:  # redis-py's subclasses name server states (OOM, READONLY...)
        return False
    return str(exc).split(" ", 1)[0] not in SERVER_STATE_CODES


#: How long to wait for a reply by peeking at the socket before sleeping in recv (see _await).
SPIN_SECONDS = 60e-6 if (os.cpu_count() or 1) > 1 else 0.0


def _await(conn: Any) -> None:
    """Spin briefly until the reply to a command just sent arrives. On loopback a reply takes
    microseconds, but sleeping in recv() and being woken costs ~40 us more (measured on a 2-CPU VM:
    a PING round trip takes 60 us blocking, 22 us spinning). Bounded, and skipped for TLS sockets and
    single-CPU machines, where spinning would only keep Redis from running; never used for blocking
    commands (BLPOP), which wait on purpose. poll(0), not recv(MSG_DONTWAIT): redis-py's sockets have
    a timeout, and Python waits for readability before any recv on such a socket."""
    sock = getattr(conn, "_sock", None)
    if sock is None or not SPIN_SECONDS or isinstance(sock, ssl.SSLSocket):
        return
    poller = _pollers.get(sock)
    if poller is None:
        poller = _pollers[sock] = select.poll()
        poller.register(sock, select.POLLIN)
    deadline = time.perf_counter() + SPIN_SECONDS
    while not poller.poll(0):
        if time.perf_counter() > deadline:
            return


_pollers: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


class Link:
    """One Redis connection used by one thread at a time; reconnects lazily after an error."""

    __slots__ = ("_factory", "_overrides", "conn", "_owed")

    def __init__(self, factory: ConnectionFactory, **overrides: Any) -> None:
        self._factory = factory
        self._overrides = overrides
        self.conn: Any = None
        #: The commands sent with send_packed() whose replies are not read yet, to send one again
        #: alone if the cluster redirects it (read_reply).
        self._owed: deque[tuple[int, bytes]] = deque()

    def _connection(self) -> Any:
        if self.conn is None:
            self.conn = self._factory(**self._overrides)
        return self.conn

    @property
    def guard(self) -> bytes:
        """What a script call appends to its KEYS on a Redis Cluster (scripts.py), packed; b"" elsewhere."""
        return self._factory.guard

    def connect(self) -> None:
        """Connect now rather than at the first command (so interrupt() has a socket to shut)."""
        conn = self._connection()
        if getattr(conn, "_sock", None) is None:
            conn.connect()

    # Every exchange below is "send, then read the reply", and anything may interrupt it in
    # between: a soft time limit (SIGALRM) or an exception another thread raises into a task, a
    # timeout, Ctrl-C. The reply is then still on its way, and the next command on this connection
    # would read it as its own (an enqueue would get a GET's reply). So a connection interrupted
    # mid-exchange is closed, never reused; a ResponseError is a whole reply and keeps it, unless it
    # says the server is no longer a master (sentinel.demoted): the next call asks for the master again.
    # A Redis Cluster's redirections (MOVED, ASK, TRYAGAIN, CLUSTERDOWN) are followed: redirects.py.

    def call(self, *args: Any, timeout: float | None = None, blocking: bool = False) -> Any:
        """One command and its reply. blocking=True for commands that wait on purpose (BLPOP)."""
        conn = self._connection()
        try:
            conn.send_command(*args)
            if timeout is None:
                if not blocking:
                    _await(conn)
                return conn.read_response()
            return conn.read_response(timeout=timeout)
        except REDIRECTS as exc:
            return follow(self, exc, conn, lambda again: exchange(again, args, timeout), blocking)
        except ResponseError as exc:
            self._drop_if_demoted(conn, exc)
            if blocking and self._factory.cluster is not None and sentinel.demoted(exc):
                return None  # UNBLOCKED: its master became a replica; the wait ends (redirects.py)
            raise
        except BaseException:
            self._drop(conn)
            raise

    def call_packed(self, count: int, body: bytes, spin: bool = True) -> Any:
        """Send a command already packed as RESP (`count` arguments in `body`, see pack()).
        spin=False where CPU is scarcer than latency (a busy worker: see _await)."""
        conn = self._connection()
        try:
            conn.send_packed_command([b"*%d\r\n%b" % (count, body)])
            if spin:
                _await(conn)
            return conn.read_response()
        except REDIRECTS as exc:
            return follow(self, exc, conn, lambda again: exchange_packed(again, count, body))
        except ResponseError as exc:
            redirect = refusal(self, exc)
            if redirect is not exc:  # a script refused before it ran (redirects.py)
                return follow(self, redirect, conn, lambda again: exchange_packed(again, count, body))
            self._drop_if_demoted(conn, exc)
            raise
        except BaseException:
            self._drop(conn)
            raise

    def send_packed(self, count: int, body: bytes) -> None:
        """Send a command packed as for call_packed() without waiting for its reply, which the
        caller reads later with read_reply(), in order, before any other exchange on this link.
        For a link of one purpose only: a consumer's acks (worker/consumer.py)."""
        conn = self._connection()
        try:
            conn.send_packed_command([b"*%d\r\n%b" % (count, body)])
        except BaseException:
            self._drop(conn)
            raise
        self._owed.append((count, body))

    def read_reply(self) -> Any:
        """The reply to the oldest command sent with send_packed() and not read yet."""
        conn = self.conn
        if conn is None:  # dropped since: the replies owed are gone with it
            raise ConnectionError("the connection closed before its replies were read")
        try:
            reply = conn.read_response()
        except REDIRECTS as exc:
            return self._alone(conn, exc)
        except ResponseError as exc:
            if refusal(self, exc) is not exc:  # a script refused before it ran (redirects.py)
                return self._alone(conn, exc)
            self._owed.popleft()
            self._drop_if_demoted(conn, exc)
            raise
        except BaseException:
            self._drop(conn)
            raise
        self._owed.popleft()
        return reply

    def _alone(self, conn: Any, exc: BaseException) -> Any:
        """A command sent with send_packed() was redirected, and did not run: it goes again alone, on
        a link of its own (this one has replies owed). After a MOVED, the later commands owed are
        redirected too (the slot has left the node); this connection is dropped once they are read."""
        count, body = self._owed.popleft()
        if isinstance(exc, MovedError):
            self._factory.moved(exc)
        side = Link(self._factory, **self._overrides)
        try:
            return side.call_packed(count, body)
        finally:
            side.close()
            if isinstance(exc, MovedError) and not self._owed:
                self._drop(conn)

    def pipeline(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """Send all commands in one write and read all replies; a failed command's reply is its
        ResponseError, so one bad command does not hide the others' results."""
        conn = self._connection()
        replies: list[Any] = []
        try:
            conn.send_packed_command(conn.pack_commands(commands))
            for _ in commands:
                try:
                    replies.append(conn.read_response())
                except ResponseError as exc:
                    replies.append(exc)
        except BaseException:
            self._drop(conn)
            raise
        if any(isinstance(reply, ResponseError) and sentinel.demoted(reply) for reply in replies):
            self._drop(conn)
        for i, reply in enumerate(replies):
            if isinstance(reply, REDIRECTS):  # it did not run: again alone, redirected (redirects.py)
                try:
                    replies[i] = self.call(*commands[i])
                except ResponseError as exc:
                    replies[i] = exc
        return replies

    def _drop_if_demoted(self, conn: Any, exc: ResponseError) -> None:
        if sentinel.demoted(exc):
            self._drop(conn)

    def _drop(self, conn: Any) -> None:
        """Close a connection whose exchange was interrupted; the next call opens a new one (factory.lost)."""
        if self.conn is conn:
            self.conn = None
            self._owed.clear()
        self._factory.lost()
        try:
            conn.disconnect()
        except Exception:
            pass

    def interrupt(self) -> None:
        """Make a blocked read on this link return at once (it raises ConnectionError). Safe from a
        signal handler or another thread: it only shuts the socket down."""
        conn = self.conn
        sock = getattr(conn, "_sock", None) if conn is not None else None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        if self.conn is not None:
            self.conn.disconnect()
            self.conn = None
            self._owed.clear()


class Links(threading.local):
    """A Link per thread, so web threads and worker threads never share a socket."""

    def __init__(self, factory: ConnectionFactory, **overrides: Any) -> None:
        self.link = Link(factory, **overrides)


def pack(args: Any) -> bytes:
    """RESP bulk strings for `args` (str, bytes, int, float), without the leading count. The hot
    path packs the parts of a command that never change once, and only the rest per call: redis-py
    encodes every argument of every call, which was the largest cost of a fetch."""
    out = []
    for arg in args:
        kind = type(arg)  # the common kinds first, by identity: this runs for every argument sent
        if kind is str:
            data = arg.encode()
        elif kind is bytes:
            data = arg
        elif kind is int:
            data = b"%d" % arg
        elif isinstance(arg, (bytes, str)):  # their subclasses
            data = arg.encode() if isinstance(arg, str) else arg
        elif isinstance(arg, int):
            data = b"%d" % arg
        else:
            data = repr(float(arg)).encode()
        out.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(out)
