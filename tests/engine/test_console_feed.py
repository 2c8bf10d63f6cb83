"""What the console reads and does, against a real Redis, without a worker: the per-minute counters
(redis/tally.py Tally -> lib/ack.lua count -> minutes.py), the queues SET, the monitor's reads (each a few
pipelined round trips, none a SCAN), and the control moves (run or delete scheduled messages, discard
dead letters, ask a worker to stop, what a worker runs since when)."""

import json
import time
import uuid

import pytest

from jobs.engine.ops.minutes import by_task, percentile
from jobs.engine.ops.monitor import Monitor
from jobs.engine.redis import tally as tally_module
from jobs.engine.redis.broker import Broker
from jobs.engine.redis.connection import Link
from jobs.engine.redis.deliveries import Ack
from jobs.engine.redis.tally import RUNTIME_BUCKETS, TALLY
from jobs.engine.setup.config import Config
from jobs.engine.wire.header import Header
from jobs.engine.wire.message import Message
from tests.redis_monitor import Monitor as RedisMonitor


@pytest.fixture
def broker(redis_server):
    return Broker(Config(broker_url=redis_server.url))


@pytest.fixture
def tally(broker):
    """The process's Tally, emptied of what other tests left, counting for worker "w1"."""
    TALLY.take(broker.keys, force=True)
    TALLY.worker = "w1"
    yield TALLY
    TALLY.take(broker.keys, force=True)
    TALLY.worker = ""


def msg(i, queue="default", **kw):
    return Message(id=f"id-{i}", task="t.noop", args=(i,), queue=queue, **kw)


def beat(broker, worker_id="w1", hostname="host-1", queues=("default",)):
    """A live worker as the monitor sees one: its heartbeat (maintain.lua) and its record."""
    broker.leases.maintain(worker_id)
    broker.workers.record(worker_id, {"hostname": hostname, "queues": list(queues), "pool": "prefork",
                                     "concurrency": 2})


class CountingLink(Link):
    """A connection that counts its round trips (a pipeline is one)."""

    def __init__(self, broker):
        super().__init__(broker.factory)
        self.trips = []

    def call(self, *args, **kw):
        self.trips.append(args)
        return super().call(*args, **kw)

    def pipeline(self, commands):
        self.trips.append(("pipeline", len(commands)))
        return super().pipeline(commands)


def counted(broker):
    broker._own = CountingLink(broker)
    return broker._own


def register_idle(broker, prefix="c1.", worker_id="w1"):
    fetched = broker.deliveries.fetch(broker.deliveries.plan(["default"], prefix, worker_id), 1, 0, register=True)
    assert fetched.registered


# -- counters --------------------------------------------------------------------------------------

def test_a_batch_adds_to_the_minute_the_hour_the_worker_and_the_all_time_counters(broker, tally, r):
    minute = int(time.time() // 60)
    tally.add("t.a", "default", "SUCCESS", 0.004, 0.5)
    tally.add("t.a", "default", "SUCCESS", 0.004, 0.5)
    tally.add("t.a", "emails", "FAILURE", 2.5, 0.1)
    tally.add("t.b", "default", "REVOKED", None, None)
    broker.deliveries.flush_counts()
    k = broker.keys
    key = k.minute(minute) if r.exists(k.minute(minute)) else k.minute(minute + 1)  # a minute may turn meanwhile
    fields = {f.decode(): int(v) for f, v in r.hgetall(key).items()}
    four_ms, two_and_a_half = RUNTIME_BUCKETS.index(0.005), RUNTIME_BUCKETS.index(3.0)
    assert fields == {"t.a|SUCCESS": 2, "t.a|FAILURE": 1, "t.b|REVOKED": 1, f"t.a|r{four_ms}": 2,
                      f"t.a|r{two_and_a_half}": 1, "t.a|rs": 2_508_000, "*|SUCCESS": 2, "*|FAILURE": 1,
                      "*|REVOKED": 1, "*q|default": 3, "*q|emails": 1}
    assert 24 * 3600 < r.ttl(key) <= 25 * 3600
    hour = {f.decode(): int(v) for f, v in r.hgetall(k.hour(int(key.rsplit(":", 1)[1]) // 60)).items()}
    assert hour == {"t.a|SUCCESS": 2, "t.a|FAILURE": 1, "t.b|REVOKED": 1, "*|SUCCESS": 2, "*|FAILURE": 1,
                    "*|REVOKED": 1, f"t.a|r{four_ms}": 2, f"t.a|r{two_and_a_half}": 1, "t.a|rs": 2_508_000}
    assert r.hgetall(k.worker_counts("w1")) == {b"processed": b"4", b"failed": b"1"}
    assert 3500 < r.ttl(k.worker_counts("w1")) <= 3600
    stats = r.hgetall(k.stats)
    assert stats[b"c|t.a|default|SUCCESS|0|6"] == b"2" and stats[b"rs|t.a"] == b"2508000"
    assert r.ttl(k.stats) == -1  # all-time, for Prometheus


def test_a_batch_rides_on_the_fetch_that_follows_it(broker, tally, r):
    broker.sends.enqueue([msg(1), msg(2)])
    [d1] = broker.deliveries.fetch(broker.deliveries.plan(["default"], "c1.", "w1"), 1, 0).deliveries
    tally.add("t.noop", "default", "SUCCESS", 0.01, 0.0)
    tally._flushed -= tally_module.FLUSH_SECONDS  # its last batch left a second ago
    broker.deliveries.fetch(broker.deliveries.plan(["default"], "c1.", "w1"), 1, 1, acks=[Ack(d1.token, "id-1", "")])
    assert r.hget(broker.keys.worker_counts("w1"), "processed") == b"1"


def test_percentiles_are_interpolated_inside_their_bucket():
    counts = [0] * (len(RUNTIME_BUCKETS) + 1)
    i = RUNTIME_BUCKETS.index(0.2)  # runs of (0.15, 0.2]
    counts[i] = 100
    assert percentile(counts, 0.5) == pytest.approx(0.175)
    assert percentile(counts, 0.99) == pytest.approx(0.1995)
    counts[-1] = 100  # as many longer than an hour
    assert percentile(counts, 0.99) == RUNTIME_BUCKETS[-1]
    assert percentile([0] * len(counts), 0.5) is None


def test_task_figures_add_up_over_minutes(broker):
    i = RUNTIME_BUCKETS.index(1.0)
    minutes = [{b"t.slow|SUCCESS": b"3", f"t.slow|r{i}".encode(): b"3", b"t.slow|rs": b"2400000",
                b"t.fast|SUCCESS": b"10", b"t.fast|r0": b"10", b"t.fast|rs": b"5000", b"*|SUCCESS": b"13"},
               {b"t.slow|FAILURE": b"1", f"t.slow|r{i}".encode(): b"1", b"t.slow|rs": b"800000",
                b"t.slow|RETRY": b"2", b"t.gone|REVOKED": b"1"}]
    slow, fast, gone = by_task(minutes)
    assert (slow.task, slow.succeeded, slow.failed, slow.retried, slow.runs) == ("t.slow", 3, 1, 2, 4)
    assert slow.runtime == pytest.approx(3.2) and slow.mean == pytest.approx(0.8)
    assert 0.7 < slow.p50 < slow.p95 < slow.p99 <= 1.0
    assert fast.succeeded == 10 and fast.p50 == pytest.approx(0.0005)
    assert (gone.revoked, gone.runs, gone.mean, gone.p95) == (1, 0, None, None)


def test_throughput_metrics_and_timeline_read_the_counters(broker, tally):
    for _ in range(3):
        tally.add("t.a", "default", "SUCCESS", 0.02, 0.0)
    tally.add("t.a", "default", "FAILURE", 0.3, 0.0)
    broker.deliveries.flush_counts()
    monitor = Monitor(broker)
    minutes = monitor.throughput(5)
    assert len(minutes) == 5 and [m[0] for m in minutes] == sorted(m[0] for m in minutes)
    assert minutes[-1][0] == int(time.time() // 60) * 60.0 or minutes[-1][1:] == (0, 0)  # the minute turned
    assert sum(m[1] for m in minutes) == 3 and sum(m[2] for m in minutes) == 1
    hours = monitor.throughput_hours(3)
    assert len(hours) == 3 and hours[-1][0] % 3600 == 0 and sum(h[1] for h in hours) == 3
    [a] = monitor.task_metrics(5)
    assert (a.task, a.succeeded, a.failed, a.runs) == ("t.a", 3, 1, 4) and a.runtime == pytest.approx(0.36)
    assert 0.015 < a.p50 <= 0.02 and 0.2 < a.p99 <= 0.3
    [by_hours] = monitor.task_metrics(1440)  # read from the 24 hour hashes, which hold the same fields
    assert (by_hours.succeeded, by_hours.failed, by_hours.p50, by_hours.p99) == (3, 1, a.p50, a.p99)
    assert by_hours.runtime == pytest.approx(0.36)
    points = monitor.task_timeline("t.a", 5)
    assert len(points) == 5 and sum(p.succeeded for p in points) == 3
    [busy] = [p for p in points if p.succeeded]
    assert len(busy.histogram) == len(RUNTIME_BUCKETS) + 1 and sum(busy.histogram) == 4
    assert busy.histogram[RUNTIME_BUCKETS.index(0.02)] == 3 and 0.015 < busy.p50 <= 0.02
    assert monitor.task_timeline("t.other", 2)[-1].p95 is None


# -- the queues SET --------------------------------------------------------------------------------

def test_every_queue_sent_to_is_listed_and_a_purge_keeps_its_name(broker, r):
    broker.sends.enqueue([msg(1, "a")])
    broker.sends.enqueue([msg(2, "b", countdown=600), msg(3, "c")])
    monitor = Monitor(broker)
    assert monitor.queue_names() == ["a", "b", "c"]
    broker.controls.purge("a")
    assert monitor.queues() == {"a": 0, "b": 0, "c": 1}
    beat(broker, queues=("served",))
    broker.controls.pause("held")
    assert monitor.queue_names() == ["a", "b", "c", "held", "served"]


def test_a_process_names_a_queue_to_redis_once_a_minute_not_with_every_send(broker, redis_server, r):
    broker.sends.enqueue([msg(1, "a")])
    r.delete(broker.keys.queues)
    broker.sends.enqueue([msg(2, "a")])
    broker.sends.enqueue([msg(3, "a"), msg(4, "a")])
    assert not r.exists(broker.keys.queues)  # this process named "a" less than a minute ago
    broker.sends._registered["a"] -= 61
    broker.sends.enqueue([msg(5, "a")])
    assert r.smembers(broker.keys.queues) == {b"a"}
    other = Broker(Config(broker_url=redis_server.url))  # another process
    other.sends.enqueue_unique(msg(6, "u"), broker.keys.unique("t.noop", "k"), 60_000)
    assert r.smembers(broker.keys.queues) == {b"a", b"u"}


def test_a_workflow_step_names_its_queue(broker, r):
    broker.sends.enqueue([msg(1)])
    [d] = broker.deliveries.fetch(broker.deliveries.plan(["default"], "c1."), 1, 0).deliveries
    step = msg(2, "next")
    extra = {"f": [{"k": broker.keys.queue("next"), "w": broker.keys.wake("next"), "s": step.score,
                    "m": step.encode(), "q": [broker.keys.queues, "next"]}]}
    assert broker.deliveries.ack([Ack(d.token, "id-1", "", extra=json.dumps(extra))]) == []
    assert b"next" in r.smembers(broker.keys.queues) and broker.controls.queue_length("next") == 1


def test_a_worker_adopts_the_queues_a_redis_had_before_the_set_existed(broker, r):
    r.zadd(broker.keys.queue("old"), {"x": 9})  # written by a version without the queues SET
    broker.workers.hello("w1", ["mine"])
    assert r.smembers(broker.keys.queues) == {b"old", b"mine"}
    r.zadd(broker.keys.queue("older"), {"x": 9})
    broker.workers.hello("w1", ["mine"])  # the SET exists: no SCAN again
    assert r.smembers(broker.keys.queues) == {b"old", b"mine"}


# -- the monitor's reads ---------------------------------------------------------------------------

def test_queue_details(broker, tally, r):
    broker.sends.enqueue([msg(1, priority=9), msg(2, priority=9), msg(3, priority=0), msg(4, "quiet")])
    beat(broker, "w1", "host-1", ("default", "emails"))
    beat(broker, "w2", "host-2", ("default",))
    broker.controls.pause("quiet")
    for _ in range(12):
        tally.add("t.noop", "default", "SUCCESS", 0.001, 0.0)
    broker.deliveries.flush_counts()
    details = {q.name: q for q in Monitor(broker).queue_details()}
    assert sorted(details) == ["default", "emails", "quiet"]
    default, emails, quiet = details["default"], details["emails"], details["quiet"]
    assert (default.length, default.by_priority, default.consumers) == (3, {9: 2, 0: 1}, ["host-1", "host-2"])
    assert 0 <= default.latency < 60 and default.paused_since is None
    assert 12 / 6 <= default.throughput <= 12 / 5
    assert (emails.length, emails.by_priority, emails.latency, emails.consumers, emails.throughput) == (
        0, {}, None, ["host-1"], 0)
    assert quiet.consumers == [] and abs(quiet.paused_since - time.time()) < 60


def test_workers_carry_their_counts(broker, tally):
    beat(broker, "w1")
    tally.add("t.noop", "default", "SUCCESS", 0.001, 0.0)
    tally.add("t.noop", "default", "FAILURE", 0.001, 0.0)
    broker.deliveries.flush_counts()
    beat(broker, "w2", "host-2")
    counts = {w.id: (w.processed, w.failed) for w in Monitor(broker).workers()}
    assert counts == {"w1": (2, 1), "w2": (0, 0)}


def test_a_running_task_shows_its_worker_and_when_it_started(broker, r):
    beat(broker, "host-1.abc", "host-1")
    broker.sends.enqueue([msg(1), msg(2)])
    fetched = broker.deliveries.fetch(broker.deliveries.plan(["default"], "abc.0.0."), 2, 0)
    assert len(fetched.deliveries) == 2
    before = time.time()
    broker.leases.maintain("host-1.abc", [("id-1", 42.0)])
    running, prefetched = Monitor(broker).active()
    assert (running.id, running.worker, running.worker_id) == ("id-1", "host-1", "host-1.abc")
    assert before - 43 < running.started_at < time.time() - 41
    assert prefetched.id == "id-2" and prefetched.started_at is None and prefetched.worker_id == "host-1.abc"
    assert b"|id-1|" in running.wire
    assert 0 < r.pttl(broker.keys.running("host-1.abc")) <= 10_000
    broker.leases.maintain("host-1.abc", [])  # it finished
    assert not r.exists(broker.keys.running("host-1.abc"))


def test_redis_health(broker):
    health = Monitor(broker).redis_health()
    assert health.version[0].isdigit() and health.used_memory > 0 and health.connected_clients >= 1
    assert health.uptime_seconds >= 0 and health.maxmemory_policy and abs(health.rdb_last_save - time.time()) < 86400


def test_the_reads_never_scan_the_keyspace_and_cost_a_few_round_trips(broker, tally, redis_server, r):
    for i in range(20):
        broker.sends.enqueue([msg(i, f"q{i}", priority=i % 10)])
    for w in range(5):
        beat(broker, f"host-{w}.{w}", f"host-{w}", [f"q{w}"])
    tally.add("t.noop", "q1", "SUCCESS", 0.01, 0.0)
    broker.deliveries.flush_counts()
    monitor = Monitor(broker)
    monitor.workers()  # connection made
    watch = RedisMonitor(redis_server.port)
    try:
        costs = {}
        for name, read in [("queue_names", monitor.queue_names), ("queue_details", monitor.queue_details),
                           ("queues", monitor.queues), ("workers", monitor.workers), ("active", monitor.active),
                           ("metrics", monitor.metrics), ("scheduled", lambda: monitor.scheduled(10, 5)),
                           ("throughput", monitor.throughput), ("throughput_hours", monitor.throughput_hours),
                           ("task_metrics", monitor.task_metrics),
                           ("task_timeline", lambda: monitor.task_timeline("t.noop")),
                           ("redis_health", monitor.redis_health)]:
            start = watch.barrier(r) + 1
            read()
            end = watch.barrier(r)
            commands = [c for client, c, _ in watch.lines[start:end] if client != "lua"]
            assert not {"SCAN", "KEYS"} & set(commands), name
            costs[name] = commands
    finally:
        watch.close()
    # A pipeline's commands reach MONITOR together; the round trips are what each method sends,
    # counted on the connection instead.
    assert len(costs["queue_details"]) == 4 + 1 + 5 + 20 * 12 + 6  # look, records, counts, per queue, minutes
    assert len(costs["throughput"]) == 60 and len(costs["task_metrics"]) == 60


def test_round_trips_do_not_grow_with_queues_or_workers(broker, redis_server):
    for i in range(30):
        broker.sends.enqueue([msg(i, f"q{i}")])
    for w in range(6):
        beat(broker, f"host-{w}.{w}", f"host-{w}", [f"q{w}"])
    monitor = Monitor(broker)
    link = counted(broker)
    expected = {"queue_names": 2, "queue_details": 3, "queues": 3, "workers": 2, "active": 2, "metrics": 4, "slots": 1,
                "scheduled": 1, "throughput": 1, "throughput_hours": 1, "task_metrics": 1, "task_timeline": 1,
                "redis_health": 1}
    for name, trips in expected.items():
        link.trips.clear()
        getattr(monitor, name)(*(["t.noop"] if name == "task_timeline" else []))
        assert len(link.trips) == trips, (name, link.trips)


# -- scheduled messages ----------------------------------------------------------------------------

def test_scheduled_pages_carry_their_members(broker):
    broker.sends.enqueue([msg(i, countdown=600 + i) for i in range(5)])
    monitor = Monitor(broker)
    assert [h.id for h in monitor.scheduled(2, 1)] == ["id-1", "id-2"]
    assert monitor.scheduled_count() == 5
    [h] = monitor.scheduled(1, 4)
    assert h.member.endswith(h.wire) and h.member.split(b"|")[1] == b"default" and 600 < h.seconds <= 604


def test_run_scheduled_sends_them_now_to_an_idle_consumer_or_the_queue(broker, r):
    broker.sends.enqueue([msg(1, countdown=600), msg(2, "other", countdown=600), msg(3, countdown=900)])
    beat(broker)
    register_idle(broker)
    members = Monitor(broker).scheduled_members(["id-1", "id-2", "no-such-id"])
    assert len(members) == 2
    assert broker.scheduled.run(members) == 2
    assert broker.scheduled.run(members) == 0  # gone from the set: never sent twice
    assert r.lpop(broker.keys.inbox("c1.")).split(b"|")[1] == b"default"  # handed to the idle consumer
    assert broker.controls.queue_length("other") == 1
    assert [h.id for h in Monitor(broker).scheduled()] == ["id-3"]


def test_scheduled_members_reads_page_by_page_and_stops_when_all_are_found(broker, monkeypatch):
    from jobs.engine.ops import scheduled_view

    monkeypatch.setattr(scheduled_view, "SCHEDULED_PAGE", 3)
    broker.sends.enqueue([msg(i, countdown=600 + i) for i in range(10)])
    monitor = Monitor(broker)
    link = counted(broker)
    assert [m.split(b"|")[4] for m in monitor.scheduled_members(["id-4", "id-1"])] == [b"id-1", b"id-4"]
    assert len(link.trips) == 2
    link.trips.clear()
    assert monitor.scheduled_members(["id-9"]) and len(link.trips) == 4


def test_scheduled_members_finds_an_id_sent_compacted(broker):
    """A UUID is shortened on the wire (header.compact_id); the console asks by the id it shows."""
    task_id = str(uuid.uuid4())
    broker.sends.enqueue([Message(id=task_id, task="t.noop", countdown=600)])
    [member] = Monitor(broker).scheduled_members([task_id])
    assert Header(member.split(b"|", 2)[2].decode()).id == task_id


def test_scheduled_members_finds_ids_anywhere_in_a_large_set(broker):
    """The console's pages reach past the first 20,000 (issue 23: an id from there was not found, so
    "Run now" or "Delete" on it did nothing); so does the search, to the end of the set."""
    broker.sends.enqueue([msg(i, countdown=600 + i / 100) for i in range(20_500)])
    monitor = Monitor(broker)
    found = monitor.scheduled_members(["id-20499", "id-20001", "id-0"])
    assert sorted(m.split(b"|")[4] for m in found) == [b"id-0", b"id-20001", b"id-20499"]
    assert broker.scheduled.run(found) == 3 and broker.controls.queue_length("default") == 3


def test_scheduled_members_walks_by_score_so_messages_promoted_meanwhile_skip_nothing(broker, monkeypatch):
    """Read by rank, a page after the head was promoted would start further on than meant and miss
    the members that slid back into the page already read."""
    from jobs.engine.ops import scheduled_view

    monkeypatch.setattr(scheduled_view, "SCHEDULED_PAGE", 3)
    broker.sends.enqueue([msg(i, countdown=600 + i) for i in range(10)])
    monitor = Monitor(broker)
    link = counted(broker)
    read = link.call

    def promote_the_head_after_each_page(*args, **kw):
        reply = read(*args, **kw)
        if args[0] in ("ZRANGE", "ZRANGEBYSCORE"):  # a page of the search (by rank before issue 23)
            head = read("ZRANGE", broker.keys.scheduled, 0, 1)
            if head:
                read("ZREM", broker.keys.scheduled, *head)
        return reply

    link.call = promote_the_head_after_each_page
    assert [m.split(b"|")[4] for m in monitor.scheduled_members(["id-9", "id-3"])] == [b"id-3", b"id-9"]


def test_scheduled_members_pages_through_members_due_at_one_time(broker, monkeypatch):
    from jobs.engine.ops import scheduled_view

    monkeypatch.setattr(scheduled_view, "SCHEDULED_PAGE", 3)
    broker.sends.enqueue([msg(i, eta=time.time() + 600) for i in range(10)])
    monitor = Monitor(broker)
    assert len({h.due for h in monitor.scheduled(10)}) <= 2  # one due time (two if the ms turned)
    assert sorted(monitor.scheduled_members([f"id-{i}" for i in range(10)])) == sorted(
        h.member for h in monitor.scheduled(10))


def test_scheduled_members_given_due_times_cost_one_round_trip(broker):
    """The console's rows carry each message's due time (its score): found there at once, or gone."""
    broker.sends.enqueue([msg(i, countdown=600 + i) for i in range(5)])
    monitor = Monitor(broker)
    due = {h.id: h.due for h in monitor.scheduled(5)}
    broker.scheduled.delete(monitor.scheduled_members(["id-1"]))
    link = counted(broker)
    found = monitor.scheduled_members(["id-4", "id-1"], due)
    assert [m.split(b"|")[4] for m in found] == [b"id-4"]  # id-1 is gone: not looked for further
    assert link.trips == [("pipeline", 2)]


def test_scheduled_extent_and_the_soonest_due_by_a_time(broker):
    broker.sends.enqueue([msg(i, countdown=600 + i) for i in range(5)])
    monitor = Monitor(broker)
    total, upto = monitor.scheduled_extent()
    assert total == 5 and upto == monitor.scheduled(1, 4)[0].due
    assert [m.split(b"|")[4] for m in monitor.scheduled_due_by(upto, 2)] == [b"id-0", b"id-1"]
    assert len(monitor.scheduled_due_by(monitor.scheduled(1, 2)[0].due, 10)) == 3
    assert Monitor(Broker(Config(broker_url=broker.config.broker_url, key_prefix="empty"))).scheduled_extent() == (
        0, 0.0)


def test_delete_scheduled(broker):
    broker.sends.enqueue([msg(1, countdown=600), msg(2, countdown=600)])
    monitor = Monitor(broker)
    assert broker.scheduled.delete(monitor.scheduled_members(["id-2"])) == 1
    assert [h.id for h in monitor.scheduled()] == ["id-1"] and broker.controls.queue_length("default") == 0


# -- dead letters ----------------------------------------------------------------------------------

def bury(broker, i, reason, task="t.noop"):
    broker.sends.enqueue([Message(id=f"id-{i}", task=task, queue="default")])
    [d] = broker.deliveries.fetch(broker.deliveries.plan(["default"], f"d{i}."), 1, 0).deliveries
    assert broker.runs.bury(d.token, reason)[0]


def test_dead_letters_filtered_discarded_and_requeued(broker, monkeypatch):
    from jobs.engine.ops import monitor as monitor_module

    monkeypatch.setattr(monitor_module, "DEAD_PAGE", 2)
    for i in range(6):
        bury(broker, i, "delivered 3 times (MAX_DELIVERIES)" if i % 2 else "unknown task", f"t.{'ab'[i % 2]}")
    monitor = Monitor(broker)
    page, more = monitor.dead_letters_matching(2, 0)
    assert [d.id for d in page] == ["id-5", "id-4"] and more
    page, more = monitor.dead_letters_matching(2, 0, reason="max_deliveries")
    assert [d.id for d in page] == ["id-5", "id-3"] and more
    page, more = monitor.dead_letters_matching(2, 2, reason="MAX_DELIVERIES", task="t.b")
    assert [d.id for d in page] == ["id-1"] and not more
    assert monitor.dead_letters_matching(5, 0, task="t.c") == ([], False)

    assert broker.dead.discard(["id-5", "id-4", "no-such"]) == 2
    assert broker.dead.count() == 4 and monitor.dead_letter("id-5") is None
    assert broker.dead.requeue(["id-3"]) == ["id-3"] and broker.controls.queue_length("default") == 1


def test_a_filter_searches_every_dead_letter_not_only_the_newest(broker, r):
    """6,000 dead letters (more than the 5,000 the filter used to read), written as lib/dead.lua
    writes them, in one pipeline: the oldest one that matches is found, and a page past it says
    there is nothing more."""
    k = broker.keys
    pipe = r.pipeline(transaction=False)
    now = time.time()
    for i in range(6_000):
        task = "t.rare" if i in (0, 1) else "t.common"
        record = {"id": f"d-{i}", "task_id": f"d-{i}", "task": task, "queue": "default", "score": 5,
                  "reason": "unknown task" if i == 0 else "delivered 3 times (MAX_DELIVERIES)", "worker": "",
                  "time": now + i / 1000, "message": f"{now}|1|d-{i}|{task}|{{}}"}
        pipe.hset(k.dead, f"d-{i}", json.dumps(record))
        pipe.zadd(k.dead_order, {f"d-{i}": now * 1000 + i})
    pipe.execute()
    monitor = Monitor(broker)
    page, more = monitor.dead_letters_matching(50, 0, task="T.RARE")
    assert [d.id for d in page] == ["d-1", "d-0"] and not more  # newest first
    assert monitor.dead_letters_matching(1, 1, reason="unknown") == ([], False)
    assert [d.id for d in monitor.dead_letters_matching(1, 0, reason="unknown")[0]] == ["d-0"]
    page, more = monitor.dead_letters_matching(50, 5_900, task="common")  # d-5999 ... d-2, newest first
    assert [d.id for d in page] == [f"d-{i}" for i in range(99, 49, -1)] and more
    assert monitor.dead_letters_matching(50, 5_950, task="common") == (
        [monitor.dead_letter(f"d-{i}") for i in range(49, 1, -1)], False)


# -- control of a worker ---------------------------------------------------------------------------

def test_a_worker_asked_to_stop_hears_it_at_its_next_maintenance_until_it_is_gone(broker, r):
    assert not broker.controls.request_shutdown("w1")  # no such worker
    beat(broker, "w1")
    beat(broker, "w2")
    assert broker.controls.request_shutdown("w1") and broker.controls.request_shutdown("w1")
    assert broker.leases.maintain("w1").shutdown and broker.leases.maintain("w1").shutdown  # a lost reply asks again
    assert not broker.leases.maintain("w2").shutdown
    broker.workers.forget("w1")
    assert not r.exists(broker.keys.shutdown) and not r.exists(broker.keys.worker("w1"))
    r.zadd(broker.keys.workers, {"w3": 1})  # a worker long gone (kill -9)
    assert not broker.controls.request_shutdown("w3")
