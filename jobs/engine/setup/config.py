"""The engine's settings: one frozen value, built once from Django's JOBS dict (see jobs/conf.py).

The engine never reads Django settings itself, so it can be driven and tested without Django, and a
settings change in a test replaces this object instead of mutating state under a running worker.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import bounds
from ..errors import ConfigurationError
from ..redis.cluster import FORM as CLUSTER_FORM
from ..redis.connection import ConnectionFactory, redact
from ..redis.sentinel import FORM as SENTINEL_FORM
from ..wire.names import check_name
from ..wire.options import priority
from .number_settings import NUMBERS, check_number
from .ratelimit import RateLimits
from .routing import Router
from .shards import check_shards

DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"
SERIALIZERS = ("json", "pickle")
#: JOBS["REDACT"] unless set: names that usually hold secrets (matched as parts of names).
DEFAULT_REDACT = ("password", "passwd", "secret", "token", "api_key", "apikey", "authorization", "card", "cvv",
                  "ssn")

#: The shortest key JOBS["SIGNING_KEYS"] takes (a key derived from SECRET_KEY has 32 bytes).
MIN_KEY_BYTES = 32


@dataclass(frozen=True)
class Config:
    broker_url: str = DEFAULT_BROKER_URL
    #: Extra keyword arguments for redis-py's connection pool (ssl_cert_reqs, socket_keepalive, ...).
    broker_options: dict[str, Any] = field(default_factory=dict)
    key_prefix: str = "jobs"
    #: How many copies of jobs' keyspace the queues are spread over (keys.py: shard 0 is `{KEY_PREFIX}`, as with
    #: one; shard k, `{KEY_PREFIX:k}`): on a Redis Cluster each lands on the master of its slot (setup/shards.py).
    shards: int = 1
    #: Queue -> shard, for queues not left to the hash of their name (setup/shards.py).
    queue_shard: dict[str, int] = field(default_factory=dict)
    #: Queue -> over how many shards one queue's messages spread (setup/shards.py).
    queue_spread: dict[str, int] = field(default_factory=dict)
    default_queue: str = "default"
    #: Task name patterns (or callables) -> queue / priority; see routing.py.
    routes: Any = None
    #: Task name patterns -> a rate shared by the tasks matching it; see ratelimit.py.
    rate_limits: dict[str, Any] = field(default_factory=dict)
    eager: bool = False
    #: delay()/apply_async() wait for the caller's transaction to commit (never sent if it rolls back).
    enqueue_on_commit: bool = False
    #: A send inside a database transaction is written to the outbox table in that transaction and
    #: sent once it commits, even if the process dies right after COMMIT (send/producer.py, relay.py).
    outbox: bool = False
    eager_propagates: bool = False
    task_serializer: str = "json"
    result_serializer: str = "json"
    accept_content: tuple[str, ...] = ("json",)
    result_expires: float = 86400.0
    ignore_result: bool = False
    track_started: bool = False
    acks_late: bool = True
    #: How long a worker owns a running task without renewing; renewed every third of it.
    lease_seconds: float = 30.0
    #: How long delay() waits for an unreachable Redis before raising BrokerUnavailable.
    enqueue_timeout: float = 5.0
    #: How long an id sent is remembered: another send of it meanwhile (delay() retrying after a lost
    #: reply, a relay sending again) is a no-op (lua/enqueue.lua, keys.sent).
    send_dedup_seconds: float = 60.0
    #: Writes that must survive a failover (sends, revocations, pauses, beat's sends) return only once
    #: this many replicas have them (redis/replicas.py: WAIT); 0 trusts asynchronous replication.
    enqueue_replicas: int = 0
    #: Run on a Redis whose maxmemory-policy may evict keys (redis_setup.py): an accepted risk.
    allow_eviction: bool = False
    #: A message whose worker was lost this many times goes to the dead letters (0: no limit).
    max_deliveries: int = 5
    dead_letters_max: int = 10_000
    #: How long a message for a task no worker knows is kept trying before it is dead-lettered.
    unknown_task_grace: float = 600.0
    #: Defaults for tasks that set none (seconds; None = no limit).
    time_limit: float | None = None
    soft_time_limit: float | None = None
    #: mail_admins on a task's final failure, at most once per task name per interval.
    error_emails: bool = False
    error_email_interval: float = 600.0
    #: Periodic tasks: the default time zone of crontabs ('' = Django's TIME_ZONE), the schedule
    #: from settings (name -> entry, synced into the database by beat), the leader's lease.
    timezone: str = ""
    beat_schedule: dict[str, Any] = field(default_factory=dict)
    beat_lease_seconds: float = 10.0
    worker_concurrency: int | None = None
    worker_pool: str = "prefork"
    worker_prefetch: int = 16
    #: How long a task runs before what its consumer took ahead goes back to the queue (worker/giveback.py);
    #: None: never (what was taken ahead waits for the task in hand, as with Celery's prefetch).
    worker_give_back_after: float | None = 0.02
    worker_shutdown_timeout: float = 30.0
    #: How many async tasks one consumer runs at once (prefork only above 1).
    worker_async_concurrency: int = 1
    #: Results say which task, arguments, queue and worker they belong to (Celery's result_extended).
    result_extended: bool = True
    #: Parameter names whose values are stored and shown as "***" (results, history, logs, emails):
    #: a name is redacted when it contains one of these, ignoring case (redact.py).
    redact: tuple[str, ...] = DEFAULT_REDACT
    #: The most bytes one message may take in Redis; a larger one is refused at the call (EncodeError).
    message_max_bytes: int = 64 * 2**20
    #: The most a task's stored arguments take, in bytes of JSON; larger values are described instead.
    stored_args_max: int = 4096
    #: Every task's outcome recorded in the database (TaskResult) by the workers; kept this long.
    history: bool = True
    history_keep: float = 7 * 86400.0
    #: Outcomes waiting in Redis for the database at most (history.py says what is dropped first).
    history_backlog: int = 100_000
    #: The bearer token that lets a probe or a scraper read jobs/health and jobs/metrics without a staff login
    #: ('' = staff only). Long and random: it is compared in constant time, never logged.
    metrics_token: str = field(default="", repr=False)
    #: Keys that sign messages (the first) and that a worker accepts a signature of (any): wire/signing.py.
    #: () = unsigned (the engine alone has no secret; the Django side derives one from SECRET_KEY: jobs/conf.py).
    signing_keys: tuple[bytes, ...] = field(default=(), repr=False)

    @property
    def signing_key(self) -> bytes | None:
        """The key messages are signed with, or None when they are not."""
        return self.signing_keys[0] if self.signing_keys else None

    def __post_init__(self) -> None:
        for check in _CHECKS:
            check(self)

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)


# -- the checks of the settings, each a function of the whole Config --------------------------------

def _serializers(c: Config) -> None:
    for name in ("task_serializer", "result_serializer"):
        value = getattr(c, name)
        if value not in SERIALIZERS:
            raise ConfigurationError(f"JOBS[{name.upper()!r}] is {value!r}; choose one of {', '.join(SERIALIZERS)}.")
        if value not in c.accept_content:
            raise ConfigurationError(
                f"JOBS[{name.upper()!r}] is {value!r} but ACCEPT_CONTENT is {list(c.accept_content)}: add {value!r} "
                "to ACCEPT_CONTENT (a worker decodes only what it accepts), or use 'json'.")
    unknown = set(c.accept_content) - set(SERIALIZERS)
    if unknown:
        raise ConfigurationError(
            f"JOBS['ACCEPT_CONTENT'] has {sorted(unknown)}; known content types: {', '.join(SERIALIZERS)}.")


def _names(c: Config) -> None:
    check_name("JOBS['DEFAULT_QUEUE']", c.default_queue)
    check_name("JOBS['KEY_PREFIX']", c.key_prefix)
    if not isinstance(c.metrics_token, str) or (c.metrics_token and len(c.metrics_token) < 16):
        raise ConfigurationError("JOBS['METRICS_TOKEN'] must be a string of at least 16 characters (a random "
                                 "one: python -c 'import secrets; print(secrets.token_urlsafe())'), or ''.")
    if c.worker_pool not in ("prefork", "threads", "solo"):
        raise ConfigurationError(f"JOBS['WORKER_POOL'] is {c.worker_pool!r}; choose prefork, threads or solo.")


def _signing(c: Config) -> None:
    if not isinstance(c.signing_keys, tuple) or not all(
            isinstance(key, bytes) and len(key) >= MIN_KEY_BYTES for key in c.signing_keys):
        raise ConfigurationError(f"JOBS['SIGNING_KEYS'] must be a list of keys of at least {MIN_KEY_BYTES} bytes "
                                 "(random ones: python -c 'import secrets; print(secrets.token_urlsafe())'), the one "
                                 "to sign with first, or [] not to sign.")


def _numbers(c: Config) -> None:
    for name in NUMBERS:
        value = check_number(name, getattr(c, name))
        if value != getattr(c, name) or type(value) is not type(getattr(c, name)):
            object.__setattr__(c, name, value)  # a timedelta or an int of seconds, kept as float seconds
    if c.send_dedup_seconds < 2 * c.enqueue_timeout:
        raise ConfigurationError(
            f"JOBS['SEND_DEDUP_SECONDS'] must be at least twice ENQUEUE_TIMEOUT ({2 * c.enqueue_timeout:g} s: a send "
            f"retried after a lost reply must find its id remembered), not {c.send_dedup_seconds:g}.")


def _broker(c: Config) -> None:
    try:
        ConnectionFactory(c.broker_url, c.broker_options).check()  # parses; does not connect
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(
            f"JOBS['BROKER_URL'] {redact(c.broker_url)!r} or BROKER_OPTIONS is not usable: {exc}. "
            "Use redis://[:password@]host[:port][/db], rediss://..., unix:///path/to/redis.sock, for Sentinel, "
            f"{SENTINEL_FORM}, or for a Redis Cluster, {CLUSTER_FORM}") from exc


def _shards(c: Config) -> None:
    check_shards(c.shards, c.queue_shard, c.queue_spread)


def _tables(c: Config) -> None:
    Router(c.routes)  # raises on a bad pattern, queue or priority
    RateLimits(c.rate_limits)
    if not isinstance(c.beat_schedule, dict):
        raise ConfigurationError("JOBS['BEAT_SCHEDULE'] must be a dict: name -> {'task': ..., 'schedule': ...}")
    for name, entry in c.beat_schedule.items():
        _beat_numbers(f"JOBS['BEAT_SCHEDULE'][{name!r}]", entry)
    if c.timezone:
        try:
            zoneinfo.ZoneInfo(c.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError) as exc:  # "America": IsADirectoryError
            raise ConfigurationError(f"JOBS['TIMEZONE'] {c.timezone!r} is not a known time zone; use an IANA name "
                                     "like 'Europe/Berlin'") from exc


def _beat_numbers(where: str, entry: Any) -> None:
    """The numbers of a BEAT_SCHEDULE entry, by the rule of every number (its shape is beat's to
    check, jobs/beat_store.py): every so many seconds, its runs' priority and expiry."""
    if not isinstance(entry, dict):
        return
    every = entry.get("schedule")
    if isinstance(every, (int, float, dt.timedelta)):
        bounds.seconds(every, f"{where}['schedule']", above=True, error=ConfigurationError,
                       type_error=ConfigurationError)
    options = entry.get("options")
    if isinstance(options, dict):
        if options.get("priority") is not None:
            priority(f"{where}['options']['priority']", options["priority"], ConfigurationError)
        if options.get("expires") is not None:
            bounds.seconds(options["expires"], f"{where}['options']['expires']", above=True,
                           error=ConfigurationError, type_error=ConfigurationError)


_CHECKS: tuple[Callable[[Config], None], ...] = (_serializers, _names, _signing, _numbers, _broker,
                                                       _shards, _tables)
