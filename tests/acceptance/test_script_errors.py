"""A Redis script that fails on one message moves that message to the dead letters, with the error
as its reason, and the queue goes on (issue 31, break 2).

The consumer retried every error Redis answered with, which is right for Redis's own states (a
failover, a full disk, out of memory: they pass) and wrong for an error about one message: that
fails again on every try, and everything queued behind it waits, while the heartbeat looks healthy.
"""

from __future__ import annotations

import pytest

from jobs.engine.ops.monitor import Monitor
from jobs.engine.redis.connection import fails_on_message
from jobs.engine.setup import app as engine_app
from tests.testapp import tasks


@pytest.mark.parametrize("pool", ["prefork", "solo"])
def test_a_message_a_script_fails_on_is_dead_lettered_and_the_next_task_runs(start_worker, r, pool):
    start_worker("-P", pool, "-c", "1")
    app = engine_app.current()
    # The budget of shop "bad" is a string where lua/rate.lua expects a hash: WRONGTYPE, on every try.
    r.set(app.keys.rate(f"task:{tasks.per_shop.name}:shop:bad"), "not a budget")
    bad = tasks.per_shop.delay("bad", "k")
    assert tasks.add.delay(2, 3).get(timeout=30) == 5
    assert tasks.per_shop.delay("good", "k").get(timeout=30) is None
    letters = Monitor(app.broker).dead_letters()
    assert [d.task_id for d in letters] == [bad.id]
    assert "a Redis script failed on this message" in letters[0].reason and "WRONGTYPE" in letters[0].reason
    assert app.broker.deliveries.inflight_count() == 0


def test_what_is_about_the_message_and_what_is_about_redis():
    from redis.exceptions import BusyLoadingError, ConnectionError, OutOfMemoryError, ReadOnlyError, ResponseError

    about_the_message = [ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value script: "
                                       "d4, on @user_script:1."),
                         ResponseError("value is not an integer or out of range script: 56, on @user_script:1."),
                         ResponseError("user_script:1: attempt to index local 'x' (a nil value) script: cf0, on "
                                       "@user_script:1.")]
    about_redis = [ConnectionError("Connection reset by peer"), OutOfMemoryError("command not allowed"),
                   ReadOnlyError("You can't write against a read only replica."), BusyLoadingError("loading"),
                   ResponseError("MISCONF Redis is configured to save RDB snapshots, but it's unable to persist"),
                   ResponseError("BUSY Redis is busy running a script.")]
    assert all(fails_on_message(e) for e in about_the_message)
    assert not any(fails_on_message(e) for e in about_redis)
