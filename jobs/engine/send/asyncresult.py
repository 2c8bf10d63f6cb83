"""AsyncResult: a handle on a task's result, by id, from any process (a group's, and a workflow's
shaped as it is, are groupresult.py's).

get() subscribes to the task's done channel before it reads the result, so a result written between
the two cannot be missed, then sleeps on the subscription: no polling. It re-reads the result every
few seconds anyway, so a notice lost to a Redis restart only delays it.

With several shards (setup/shards.py) a result lives on the shard of the queue its task ran from. A
handle made by a send knows it; one made from an id alone asks each shard in turn (one GET each: one
call with one shard, as ever) and remembers where it found the result, and until then get() waits on
the done channels of every shard at once (one SUBSCRIBE: a classic PUBLISH reaches every node of a
Cluster, so one connection hears them all).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import signal as signals
import time
from typing import Any, Generic, Protocol

from .. import bounds
from ..errors import TaskRevoked, TimeoutError
from ..redis.backoff import with_retry
from ..setup.app import App, current
from ..wire.outcome import FAILURE, PENDING, READY_STATES, REVOKED, SUCCESS, ResultMeta, decode
from .types import R_co

#: Re-read the result at least this often while waiting (a safety net, not a poll).
RECHECK = 5.0


def check_signal(signal: str | int | None) -> None:
    """revoke(signal=...): a signal name ("SIGKILL", "TERM") or number, else ValueError."""
    if signal is None:
        return
    try:
        if isinstance(signal, str):
            name = signal.upper()
            signals.Signals[name if name.startswith("SIG") else f"SIG{name}"]
        else:
            signals.Signals(signal)
    except (KeyError, ValueError):
        raise ValueError(f"revoke(signal={signal!r}): not a signal; name one such as 'SIGKILL' or 'SIGTERM'") from None


class Earlier(Protocol):
    """What came before a result in a workflow (AsyncResult.parent): the step before it in a chain,
    an AsyncResult, or a chord's members, a groupresult.GroupResult; named by what both answer, so
    that this module needs neither the other."""

    id: str

    def ready(self) -> bool: ...

    def get(self, timeout: float | None = None, propagate: bool = True) -> Any: ...


class AsyncResult(Generic[R_co]):
    """A task's result, by id. Typed by its task (`add.delay(1, 2)` is an `AsyncResult[int]`), so
    get() returns what the task returns; one made by id alone is an `AsyncResult[Any]`."""

    def __init__(self, id: str, task_name: str | None = None, app: App | None = None, shard: int | None = None) -> None:
        if not isinstance(id, str):  # a list of ids, bytes, a UUID: every read would ask Redis for nothing
            raise TypeError(f"AsyncResult takes one task id, a str (str(uuid) for a UUID), not {type(id).__name__} "
                            f"{id!r:.80}" + ("; for several, GroupResult([AsyncResult(i) for i in ids])"
                                              if isinstance(id, (list, tuple, set)) else ""))
        self.id = id
        self.task_name = task_name
        self._app = app
        self._meta: ResultMeta | None = None
        #: The shard its result is on, when known (setup/shards.py); None: each is asked.
        self.shard = shard
        #: In a workflow, the result of the step before (a chain), or the members' GroupResult (a chord).
        self.parent: Earlier | None = None

    @property
    def app(self) -> Any:
        return self._app or current()

    def __repr__(self) -> str:
        # No Redis read here: a repr is taken in tracebacks and debug pages, even when Redis is down.
        known = f" {self._meta.status}" if self._meta is not None else ""
        return f"<AsyncResult {self.id}{known}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AsyncResult) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    # -- reading -------------------------------------------------------------------------------

    def _read(self) -> ResultMeta | None:
        if self._meta is not None:
            return self._meta
        app = self.app
        raw = with_retry(lambda: self._get(app), app.config.enqueue_timeout, "read result")
        if raw is None:
            return None
        meta = decode(raw, app.config.accept_content, app.config.signing_keys)
        if meta.status in READY_STATES:
            self._meta = meta  # final: never read again
        return meta

    def _get(self, app: App) -> bytes | None:
        """The stored result, from its shard, or from the first shard that has it (then remembered)."""
        brokers = app.brokers
        if self.shard is not None or len(brokers) == 1:
            return brokers[self.shard or 0].results.get(self.id)
        for broker in brokers:
            raw = broker.results.get(self.id)
            if raw is not None:
                self.shard = broker.shard
                return raw
        return None

    @property
    def status(self) -> str:
        meta = self._read()
        return meta.status if meta else PENDING

    state = status

    def ready(self) -> bool:
        return self.status in READY_STATES

    def successful(self) -> bool:
        return self.status == SUCCESS

    def failed(self) -> bool:
        return self.status == FAILURE

    @property
    def result(self) -> Any:
        """The return value once it succeeded; the exception once it failed, and during RETRY the
        exception that caused the retry; a custom state's meta (update_state) while it runs."""
        meta = self._read()
        if meta is None:
            return None
        if meta.exception is not None:
            return meta.exception
        return meta.value if meta.status == SUCCESS else meta.meta

    info = result  # Celery's two names for it

    @property
    def traceback(self) -> str | None:
        meta = self._read()
        return meta.traceback if meta else None

    @property
    def date_done(self) -> dt.datetime | None:
        """When it ended (aware, UTC)."""
        meta = self._read()
        return _aware(meta.date_done if meta is not None else None)

    @property
    def date_started(self) -> dt.datetime | None:
        """When its last run started (aware, UTC); None if it has not (or tracking was off)."""
        meta = self._read()
        return _aware(meta.date_started if meta is not None else None)

    # What an extended result (JOBS["RESULT_EXTENDED"], on by default) says of the run: arguments
    # as stored (JOBS["REDACT"] and STORED_ARGS_MAX applied), queue, worker, retries so far.

    @property
    def name(self) -> str | None:
        meta = self._read()
        return (meta.task if meta is not None else None) or self.task_name

    @property
    def args(self) -> list[Any] | str | None:
        meta = self._read()
        return meta.args if meta is not None else None

    @property
    def kwargs(self) -> dict[str, Any] | str | None:
        meta = self._read()
        return meta.kwargs if meta is not None else None

    @property
    def queue(self) -> str | None:
        meta = self._read()
        return meta.queue if meta is not None else None

    @property
    def worker(self) -> str | None:
        meta = self._read()
        return meta.worker if meta is not None else None

    @property
    def retries(self) -> int | None:
        meta = self._read()
        return meta.retries if meta is not None else None

    @property
    def parent_id(self) -> str | None:
        """The id of what sent it: the task it was called from, the chain step before it, its chord."""
        meta = self._read()
        return meta.parent if meta is not None else None

    def revoke(self, terminate: bool = False, signal: str | int | None = None) -> None:
        """Keep the task from running if it has not started: the worker that comes to it marks it
        REVOKED instead. With terminate=True, also stop it if it is running (prefork: its process
        is killed and replaced; threads and solo: Terminated is raised in its thread), within about
        a second. Revocations are remembered for RESULT_EXPIRES. `signal` (Celery's) is checked
        and accepted: how a running task is stopped is the pool's, as above, whatever it names."""
        check_signal(signal)
        for broker in self.app.brokers:  # whichever shard it waits on, its fetch.lua reads that shard's set
            broker.controls.revoke([self.id], terminate)
        self._meta = None

    def forget(self) -> None:
        """Delete the stored result (it would expire by itself after RESULT_EXPIRES)."""
        brokers = self.app.brokers
        for broker in brokers if self.shard is None else [brokers[self.shard]]:
            broker.results.forget(self.id)
        self._meta = None

    # -- waiting -------------------------------------------------------------------------------

    def get(self, timeout: float | None = None, propagate: bool = True) -> R_co:
        """Wait for the task to finish and return its value. With propagate, a failure re-raises
        the task's exception and a revoked task raises TaskRevoked. TimeoutError after `timeout`."""
        if timeout is not None:  # nan would wait forever, inf overflow the deadline: refused first
            timeout = bounds.seconds(timeout, f"{self.task_name or 'AsyncResult'}[{self.id}].get(timeout=...)",
                                     high=bounds.MAX_SECONDS, none="wait until it is ready")
        meta = self._read()
        if meta is None or meta.status not in READY_STATES:
            meta = self._wait(timeout)
        if meta.status == SUCCESS:
            return meta.value  # type: ignore[no-any-return]  # what the task returned, as its R says
        if not propagate:  # the exception or None instead of a value: as Celery does, untyped
            return meta.exception if meta.status == FAILURE else None  # type: ignore[return-value]
        if meta.status == REVOKED:
            raise TaskRevoked(f"task {self.id}: {meta.reason or 'revoked'}")
        assert meta.exception is not None
        raise meta.exception

    def wait(self, timeout: float | None = None, propagate: bool = True) -> R_co:
        return self.get(timeout=timeout, propagate=propagate)

    def _wait(self, timeout: float | None) -> ResultMeta:
        deadline = None if timeout is None else time.monotonic() + timeout
        brokers = self.app.brokers
        # Subscribed before the read below: no notice missed. Its shard's channel, or every shard's.
        watch = (brokers[self.shard or 0].results.watch(self.id) if self.shard is not None or len(brokers) == 1
                 else brokers[0].results.watch(self.id, [b.keys for b in brokers]))
        try:
            while True:
                meta = self._read()
                if meta is not None and meta.status in READY_STATES:
                    return meta
                left = RECHECK if deadline is None else min(RECHECK, deadline - time.monotonic())
                if left <= 0:
                    raise TimeoutError(f"task {self.id} was not ready within {timeout:g} s")
                watch.wait(left)
        finally:
            watch.close()

    async def aget(self, timeout: float | None = None, propagate: bool = True) -> R_co:
        """get() for async views: the wait runs in a thread so the event loop is not blocked."""
        return await asyncio.to_thread(self.get, timeout, propagate)


def _aware(timestamp: float | None) -> dt.datetime | None:
    return None if timestamp is None else dt.datetime.fromtimestamp(timestamp, tz=dt.timezone.utc)
