"""Every Redis key name jobs uses, built here and nowhere else.

All keys carry the prefix inside a hash tag, ``{jobs}:...``, so that they live in one Redis Cluster
slot: our Lua scripts touch several of them at once, and some (a queue named inside a message) are
only known inside the script. Several sites share one Redis by choosing different KEY_PREFIXes.

    {p}:queue:<name>    ZSET  ready messages; score 9 - priority, member ordered by enqueue time
    {p}:queues          SET   every queue a message was sent to, and every worker's queues: what the monitor lists,
                              without a SCAN. Added by the sends (enqueue.lua and enqueue_unique.lua for the queues
                              the caller's process has not named in the last minute, broker.REGISTER_SECONDS;
                              beat_send.lua, a workflow's next step in lib/ack.lua, dead_requeue.lua) and by a
                              worker as it starts (broker.workers.hello); a purge keeps the name
    {p}:wake:<name>     LIST  at most a token or so; idle workers block on it (BLPOP)
    {p}:scheduled       ZSET  ETA/countdown messages; score = due time (ms)
    {p}:leases          ZSET  delivery token -> lease deadline (ms)
    {p}:inflight        HASH  delivery token -> the message it carries (to hand back if the lease dies)
    {p}:result:<id>     STRING  a task's result, with an expiry
    {p}:done:<id>       pub/sub channel announcing that result
    {p}:dead            HASH  dead letters: id -> record (reason, queue, original message...)
    {p}:dead:order      ZSET  dead letter id -> time (ms), to list them and trim the oldest
    {p}:revoked         ZSET  revoked task id -> time (ms); fetch skips these
    {p}:expiries        ZSET  task id -> when it expires (ms, Redis's clock), for messages sent with
                              `expires`; written as they are enqueued, read as they are taken
    {p}:terminate       ZSET  ids revoked with terminate=True -> time (ms); running ones are stopped
    {p}:paused          HASH  paused queue -> since (ms): no worker takes from it (pause.lua, fetch.lua)
    {p}:idle            HASH  consumer id -> "next seq|lease ms|since": consumers blocked waiting for work
    {p}:idle:<queue>    LIST  ids of the consumers idle on that queue (lib/deliver.lua hands off to them)
    {p}:inbox:<id>      LIST  a consumer's inbox: a message handed to it, already leased
    {p}:maintained      STRING  when maintain.lua last ran (ms), to tell a Redis pause from a dead worker
    {p}:workers         ZSET  worker id -> last heartbeat (ms)
    {p}:worker:<id>     STRING  what a worker said about itself at start (JSON), with an expiry
    {p}:counts:<id>     HASH  processed, failed: the outcomes worker <id> settled (metrics.Tally), with its
                              record's expiry (an hour, renewed by each batch); not under worker:, where
                              every key is a record
    {p}:running:<id>    HASH  task id -> when it started (ms, Redis's clock), of what a worker runs now: replaced
                              by its maintain.lua every second, with a 10 s expiry
    {p}:shutdown        SET   ids of workers asked to stop (control.shutdown), read by their maintain.lua
    {p}:mail:<task>     STRING  error-email throttle (and {p}:mail:<task>:count, failures since)
    {p}:chord:<id>      SET   the members of a chord that have ended (lib/ack.lua)
    {p}:chord:<id>:of   STRING  the members' ids, in order, for the callback
    {p}:beat:leader     STRING  the id of the beat that leads, with its lease as expiry
    {p}:beat:sent       HASH  periodic task id -> due time (ms) of its last run sent (each sent once)
    {p}:sent:<id>       STRING  "1": a message with this id was sent (enqueue.lua, enqueue_unique.lua), for
                              SEND_DEDUP_SECONDS (its expiry); another send of that id is a no-op. <id> as
                              the wire spells it (header.compact_id), appended by the scripts to sent_prefix
    {p}:unique:<task>:<key>   STRING  the id of the run holding a unique task's lock (enqueue_unique.lua)
    {p}:rate:<budget>   HASH  a rate limit's budget: tat, res (rate.lua)
    {p}:history         STREAM  outcomes waiting for the database (lib/history.lua), read by the
                              workers' recorders as the consumer group "recorders" (history.py)
    {p}:history:dropped HASH  outcomes not recorded because the backlog was full: success, other
    {p}:history:prune   STRING  held by the recorder that prunes old rows now (one at a time)
    {p}:forward         ZSET  envelopes of messages (or results) an ack hands to another shard (forwards.py)
    {p}:forward:wake    LIST  a token the ack leaves; the forwarder empties it
    {p}:outbox:relay    STRING  held by the relay that sends the outbox's left rows now (one at a time)
    {p}:attempts:<id>   LIST  a django.tasks task's enqueue, starts and errors (jobs/backend.py)
    {p}:stats           HASH  all-time counters the metrics read (metrics.Tally, lib/ack.lua count):
                              c|task|queue|outcome|run bucket|wait bucket, rs|task, ws|task (sums in microseconds),
                              redeliveries, bad_signatures (messages refused for their signature)
    {p}:minute:<m>      HASH  what ended in unix minute m (the worker process's clock), for the console, kept 25 h:
                              <task>|<STATUS> counts, <task>|r<i> run times by metrics.RUNTIME_BUCKETS, <task>|rs
                              their sum (µs); *|<STATUS> over all tasks, *q|<queue> ended per queue
    {p}:hour:<h>        HASH  <task>|<STATUS> and *|<STATUS> of unix hour h, kept 8 days
    {p}:migrating       never written: on a Redis Cluster every script call declares it after its own KEYS
                              (scripts.py), so that no script runs while the slot migrates (redirects.py)

With JOBS["SHARDS"] above 1, each shard is a whole copy of this keyspace under its own tag: shard 0
keeps `{p}` (a single-server site is shard 0, unchanged), shard k >= 1 is `{p:k}`. A queue lives on one
shard (setup/shards.py), and so does everything of its messages: their leases, results, chords.

The minute, hour and worker-counts keys are written by lib/ack.lua `count` from a process's batch
(metrics.Tally), which names each key it adds to: their names are built here and travel inside the batch.
The Lua scripts get every key they touch in KEYS, or (a queue named inside a message) a prefix from
here in ARGV; they spell none themselves.
"""

from __future__ import annotations


class Keys:
    """The names of the keys of one KEY_PREFIX and shard (see the module docstring for each)."""

    __slots__ = ("shard", "tag", "base", "queue_prefix", "wake_prefix", "result_prefix", "done_prefix", "scheduled",
                 "leases", "inflight", "dead", "dead_order", "revoked", "terminate", "maintained", "idle",
                 "idle_prefix", "expiries", "inbox_prefix", "workers", "worker_prefix", "history", "history_dropped",
                 "history_prune", "outbox_relay", "stats", "paused", "queues", "shutdown", "minute_prefix",
                 "forward", "forward_wake", "hour_prefix", "running_prefix", "sent_prefix", "slots", "slot_limits",
                 "slot_prefix", "guard")

    def __init__(self, prefix: str, shard: int = 0) -> None:
        self.shard = shard
        #: The hash tag every key carries: on a Redis Cluster, all of them live in its slot.
        self.tag = "{" + prefix + "}" if shard == 0 else "{" + f"{prefix}:{shard}" + "}"
        self.base = self.tag + ":"
        self.queue_prefix = self.base + "queue:"
        self.wake_prefix = self.base + "wake:"
        self.result_prefix = self.base + "result:"
        self.done_prefix = self.base + "done:"
        self.worker_prefix = self.base + "worker:"
        self.scheduled = self.base + "scheduled"
        self.leases = self.base + "leases"
        self.inflight = self.base + "inflight"
        self.dead = self.base + "dead"
        self.dead_order = self.base + "dead:order"
        self.revoked = self.base + "revoked"
        self.expiries = self.base + "expiries"
        self.terminate = self.base + "terminate"
        self.maintained = self.base + "maintained"
        self.idle = self.base + "idle"
        self.idle_prefix = self.base + "idle:"
        self.inbox_prefix = self.base + "inbox:"
        self.workers = self.base + "workers"
        self.history = self.base + "history"
        self.history_dropped = self.base + "history:dropped"
        self.history_prune = self.base + "history:prune"
        self.outbox_relay = self.base + "outbox:relay"
        self.stats = self.base + "stats"
        self.paused = self.base + "paused"
        self.queues = self.base + "queues"
        self.shutdown = self.base + "shutdown"
        self.minute_prefix = self.base + "minute:"
        self.hour_prefix = self.base + "hour:"
        self.running_prefix = self.base + "running:"
        self.sent_prefix = self.base + "sent:"
        #: What this shard hands to another (forwards.py).
        self.forward = self.base + "forward"
        self.forward_wake = self.base + "forward:wake"
        #: Concurrency limits (lua/slot.lua): each slot's holders, and the slots taken lately with their limits.
        self.slot_prefix = self.base + "slot:"
        self.slots = self.base + "slots"
        self.slot_limits = self.base + "slots:limits"
        #: A key no one writes, declared by every script call on a Redis Cluster (scripts.py, redirects.py).
        self.guard = self.base + "migrating"

    def queue(self, name: str) -> str:
        return self.queue_prefix + name

    def idle_list(self, name: str) -> str:
        return self.idle_prefix + name

    def wake(self, name: str) -> str:
        return self.wake_prefix + name

    def result(self, task_id: str) -> str:
        return self.result_prefix + task_id

    def done(self, task_id: str) -> str:
        return self.done_prefix + task_id

    def attempts(self, task_id: str) -> str:
        """A list: its enqueue, each start, each error, for tasks that keep them (keeps_attempts)."""
        return f"{self.base}attempts:{task_id}"

    def worker(self, worker_id: str) -> str:
        return self.worker_prefix + worker_id

    def worker_counts(self, worker_id: str) -> str:
        return f"{self.base}counts:{worker_id}"

    def running(self, worker_id: str) -> str:
        return self.running_prefix + worker_id

    def minute(self, unix_minute: int) -> str:
        return f"{self.minute_prefix}{unix_minute}"

    def hour(self, unix_hour: int) -> str:
        return f"{self.hour_prefix}{unix_hour}"

    def mail(self, task: str) -> str:
        return self.base + "mail:" + task

    def mail_count(self, task: str) -> str:
        return self.base + "mail:" + task + ":count"

    def unique(self, task: str, key: str) -> str:
        return f"{self.base}unique:{task}:{key}"

    def rate(self, budget: str) -> str:
        return f"{self.base}rate:{budget}"

    def cursor(self, task_id: str) -> str:
        """A resumable task's last checkpoint (JSON), kept as long as a result (lua/checkpoint.lua)."""
        return f"{self.base}cursor:{task_id}"

    def slot(self, name: str) -> str:
        """A concurrency limit's holders: delivery tokens, each held with its lease (lua/slot.lua)."""
        return self.slot_prefix + name

    def chord_done(self, chord_id: str) -> str:
        return f"{self.base}chord:{chord_id}"

    def chord_members(self, chord_id: str) -> str:
        return f"{self.base}chord:{chord_id}:of"

    def inbox(self, consumer_id: str) -> str:
        return self.inbox_prefix + consumer_id

    def sent(self, wire_id: str) -> str:
        """The mark of an id sent (the scripts build it from sent_prefix): wire_id as the wire spells
        it, header.compact_id(task_id)."""
        return self.sent_prefix + wire_id

    def beat_leader(self) -> str:
        return self.base + "beat:leader"

    def beat_sent(self) -> str:
        return self.base + "beat:sent"
