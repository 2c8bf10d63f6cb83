"""Real `manage.py runbeat` processes, as an operator starts them: two at once, the leader killed with
kill -9, and `runworker -B`. Each run's task id names its periodic task and due time, so the queue
itself shows whether a run was lost (a gap) or doubled."""

from __future__ import annotations

import os
import re
import select
import signal
from pathlib import Path

from jobs.models import IntervalSchedule, PeriodicTask

LEASE = {"BEAT_LEASE_SECONDS": 2}


def due_times_ms(r, row: PeriodicTask) -> list[int]:
    ids = [wire.split(b"|")[2].decode() for wire in r.zrange("{jobs}:queue:default", 0, -1)]
    return [int(re.fullmatch(rf"beat-{row.pk}-(\d+)", i).group(1)) for i in ids]


def wait_sent(beat, name: str, count: int, after: int = 0) -> None:
    """Until `beat` has logged `count` sends of `name` from line `after` on."""
    for _ in range(count):
        line = beat.wait_for(rf"beat: sent {name} ", after=after)
        after = beat.lines.index(line, after) + 1


def test_two_beats_one_killed_with_kill_9_send_each_run_once(start_beat, r):
    every_second = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.SECONDS)
    row = PeriodicTask.objects.create(name="pulse", task="tests.testapp.tasks.noop", schedule=every_second)
    leader = start_beat(settings=LEASE)
    leader.wait_for("is the leader now")
    follower = start_beat(settings=LEASE)
    wait_sent(leader, "pulse", 4)
    assert "is the leader now" not in follower.output

    leader.kill9()
    mark = len(follower.lines)
    follower.wait_for("is the leader now", timeout=2 + 1 + 2, after=mark)  # the lease, a tick, slack
    wait_sent(follower, "pulse", 4, after=mark)
    follower.signal(signal.SIGTERM)
    assert follower.wait(15) == 0

    due = due_times_ms(r, row)
    assert len(due) == len(set(due)), "a run was sent twice"
    due.sort()
    assert [b - a for a, b in zip(due, due[1:], strict=False)] == [1000] * (len(due) - 1), "a run is missing"
    row.refresh_from_db()
    assert row.total_run_count == len(due)
    assert int(row.last_run_at.timestamp() * 1000) == due[-1]
    assert r.get("{jobs}:beat:leader") is None  # the survivor gave the lease up as it stopped


def test_a_new_leader_is_found_at_once_when_the_leader_stops_in_order(start_beat, r):
    leader = start_beat(settings=LEASE)
    leader.wait_for("is the leader now")
    follower = start_beat(settings=LEASE)
    leader.signal(signal.SIGTERM)
    assert leader.wait(15) == 0
    follower.wait_for("is the leader now", timeout=3)


def test_runworker_B_runs_beat_beside_the_worker_and_warns(start_worker, test_database_env, r):
    schedule = {"BEAT_SCHEDULE": {"pulse": {"task": "tests.testapp.tasks.record", "schedule": 1,
                                            "args": ["pulses", "tick"]}}}
    worker = start_worker("-B", "-c", "1", settings=schedule, env=test_database_env)
    worker.wait_for("for development. In production run `manage.py runbeat`")
    assert r.blpop("pulses", 15) is not None  # sent by beat, run by the worker
    assert PeriodicTask.objects.get(name="pulse").source == PeriodicTask.SETTINGS

    # The worker is killed outright: its beat must not live on, leading on its own.
    (beat_pid,) = [pid for pid in child_pids(worker.pid) if b"runbeat" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    beat_exited = os.pidfd_open(beat_pid)
    try:
        os.kill(worker.pid, signal.SIGKILL)
        assert select.select([beat_exited], [], [], 15)[0], "the beat child outlived its worker"
    finally:
        os.close(beat_exited)


def child_pids(parent: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == parent:
            out.append(int(stat.parent.name))
    return out
