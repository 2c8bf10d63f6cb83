"""A light run of tests/chaos.py (`make chaos` runs the full one): workers killed with kill -9 at
random while tasks drain, then a Redis crash (AOF on) half-way, then replies lost and connections cut
at random by a fault proxy; then sends whose replies are lost. Nothing may be lost, no consumer may
crash, no send may add a second copy."""

import pytest

from tests import chaos


@pytest.mark.slow
def test_random_kill_9_of_workers_loses_nothing(redis_server):
    report = chaos.run(tasks=1500, workers=3, concurrency=2, kill_every=1.0, kill_for=5.0, lease=2.0,
                       drain_timeout=90, seed=1)
    print("\n" + str(report))
    assert report.kills >= 3
    assert report.lost == 0, report
    assert report.duplicates <= report.duplicate_bound, report


@pytest.mark.slow
def test_a_redis_crash_with_aof_loses_nothing(redis_server):
    report = chaos.run(tasks=1000, workers=2, concurrency=2, kill_every=2.0, kill_for=4.0, lease=2.0,
                       restart_redis=True, drain_timeout=90, seed=2)
    print("\n" + str(report))
    assert report.redis_restarts == 1
    assert report.lost == 0, report
    assert report.duplicates <= report.duplicate_bound, report


@pytest.mark.slow
def test_lost_replies_and_cut_connections_lose_nothing_and_crash_no_consumer(redis_server):
    report = chaos.run(tasks=1500, workers=3, concurrency=2, kill_every=1.0, kill_for=4.0, lease=2.0,
                       drain_timeout=90, seed=3, faults=0.01)
    print("\n" + str(report))
    assert report.faults >= 10  # the proxy did break things
    assert report.lost == 0 and report.consumer_crashes == 0, report
    assert report.duplicates <= report.duplicate_bound, report


@pytest.mark.slow
def test_sends_whose_replies_are_lost_add_no_second_copy(redis_server):
    """Tasks sent while workers wait for them, through a proxy that loses some of the sends' replies,
    with CLIENT KILL every 100 ms: each lost reply makes delay() send again after the first copy may
    have run. Before sends remembered their ids, such a run had 30 to 40 second copies."""
    report = chaos.run(tasks=1000, workers=3, concurrency=2, kill_every=1.0, kill_for=3.0, lease=2.0,
                       drain_timeout=90, seed=4, send_faults=0.03, client_kill_every=0.1)
    print("\n" + str(report))
    assert report.sends_broken >= 20  # the proxy and the kills did break sends
    assert report.lost == 0 and report.consumer_crashes == 0, report
    assert report.from_sends == 0, report
    assert report.from_workers <= report.duplicate_bound, report
