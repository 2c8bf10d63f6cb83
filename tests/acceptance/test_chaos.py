"""A light run of tests/chaos.py (`make chaos` runs the full one): workers killed with kill -9 at
random while tasks drain, then a Redis crash (AOF on) half-way, then replies lost and connections cut
at random by a fault proxy. Nothing may be lost, no consumer may crash."""

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
