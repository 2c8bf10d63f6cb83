"""The broker: every move of a message in Redis, each one round trip and, where it changes more than
one key, one Lua script (lua/<name>.lua). One object holds the connections, the key names and the
settings; each concern is a part of its own, reached by name:

    broker.sends        enqueue, enqueue_unique                     (sends.py)
    broker.deliveries   a consumer's fetch, acks and idle wait       (deliveries.py)
    broker.runs         what a consumer does with what it holds      (runs.py)
    broker.leases       renew, maintain, hand back                   (leases.py)
    broker.controls     revoke, purge, pause, resume, stop a worker  (controls.py)
    broker.results      result documents, done channels, chords      (results.py)
    broker.scheduled    the scheduled set, as operators act on it    (scheduled.py)
    broker.workers      a worker's record and the queues it serves   (workers.py)
    broker.beat         beat's leadership and its runs               (beat_runs.py)
    broker.history      the history stream                           (history_stream.py)
    broker.dead         the dead letters                             (dead_letters.py)
    broker.reads        what the operators' pages read (ops/monitor) (reads.py)
    broker.forwards     what an ack hands to another shard           (forwards.py)

A message's life in Redis:

    enqueue ──► queue:<name> ──fetch──► inflight + leases ──ack──► result:<id>
       │            ▲    ▲                 │        │
       └► scheduled ┘    └──── maintain / requeue ──┘  (lease ran out, or handed back)

A message is always in exactly one of: scheduled, a queue, in flight. Every move between them is one
atomic script, so a process killed at any instant loses nothing: at worst a message waits for its
lease to run out. Delivery tokens fence the holder: once a lease is lost, the old token can no longer
acknowledge, so one run's result is stored, the one that holds the lease.

Every Redis call jobs makes is in this folder (engine/redis/), and nowhere else (tests/test_structure.py).
"""

from __future__ import annotations

import copy

from .beat_runs import BeatRuns
from .cluster import slot_of
from .connection import ConnectionFactory, Link, Links
from .controls import Controls
from .dead_letters import DeadLetters
from .deliveries import WAIT_SLICE, Deliveries
from .forwards import Forwards
from .history_stream import HistoryStream
from .keys import Keys
from .leases import Leases
from .part import Settings
from .reads import Reads
from .relay_turn import RelayTurn
from .results import Results
from .runs import Runs
from .scheduled import Scheduled
from .sends import Sends
from .workers import Workers


class Broker:
    """Connections (one per thread, one more per thread for blocking waits), key names and the
    settings the scripts take, shared by the parts listed above."""

    def __init__(self, config: Settings, shard: int = 0) -> None:
        self.config = config
        #: Which copy of the keyspace this broker moves messages in (keys.py; setup/shards.py).
        self.shard = shard
        self.keys = Keys(config.key_prefix, shard)
        # On a Redis Cluster, every connection goes to the master of the slot our keys share.
        self.factory = ConnectionFactory(config.broker_url, config.broker_options, slot=slot_of(self.keys.tag),
                                         guard=self.keys.guard)
        # A call waits at most about ENQUEUE_TIMEOUT for Redis (unless BROKER_OPTIONS says otherwise).
        bounded = {"socket_timeout": config.enqueue_timeout,
                   "socket_connect_timeout": min(2.0, config.enqueue_timeout)}
        self.bounded = {k: v for k, v in bounded.items() if k not in config.broker_options}
        self._links = Links(self.factory, **self.bounded)
        self._wait_links = Links(self.factory, socket_timeout=WAIT_SLICE + 5)
        self._own: Link | None = None
        self.ttl_ms = str(int(config.result_expires * 1000))
        self.lease_ms = int(config.lease_seconds * 1000)
        #: How long the enqueue scripts remember an id sent (keys.sent).
        self.dedup_ms = int(config.send_dedup_seconds * 1000)
        #: The history's bound, as the scripts take it (0: no history; lib/history.lua).
        self.history_max = config.history_backlog if config.history else 0
        self._parts()

    def _parts(self) -> None:
        self.sends = Sends(self)
        self.deliveries = Deliveries(self)
        self.runs = Runs(self)
        self.leases = Leases(self)
        self.controls = Controls(self)
        self.results = Results(self)
        self.scheduled = Scheduled(self)
        self.workers = Workers(self)
        self.beat = BeatRuns(self)
        self.history = HistoryStream(self)
        self.dead = DeadLetters(self)
        self.reads = Reads(self)
        self.relay = RelayTurn(self)
        self.forwards = Forwards(self)

    @property
    def link(self) -> Link:
        own = self._own
        return own if own is not None else self._links.link

    def wait_link(self) -> Link:
        """This thread's connection for blocking waits (interrupt it to end a wait early)."""
        return self._wait_links.link

    def placement(self) -> tuple[str, int, str | None]:
        """Where this shard's keys live: their hash tag, its Cluster slot, and (on a Redis Cluster) the
        master that owns the slot now, as "host:port" (None on a single server or Sentinel: one place).
        Two shards on one master share its CPU: what `manage.py jobs shards` shows and warns of."""
        slot = slot_of(self.keys.tag)
        cluster = self.factory.cluster
        if cluster is None:
            return self.keys.tag, slot, None
        host, port = cluster.owner(slot)
        return self.keys.tag, slot, f"{host}:{port}"

    def private(self) -> Broker:
        """This broker, with a connection of its own for the one thread that uses it. A consumer
        talks to Redis through one: the task it runs uses its thread's connection, and a task
        interrupted mid-command (a soft time limit) must never leave a reply for the consumer's
        next fetch to read as its own, nor share a socket with it at all."""
        view = copy.copy(self)
        view._own = Link(self.factory, **self.bounded)
        view._parts()  # bound to the view, so that their calls take its link
        return view
