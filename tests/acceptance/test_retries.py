"""Retries in the forms Celery users write: self.retry(), autoretry_for with backoff, forever."""

import pytest

from jobs.engine.setup import app as engine_app
from tests.testapp import tasks


def broker():
    return engine_app.current().broker


def test_retry_runs_again_until_it_works(start_worker, r):
    start_worker("-c", "1")
    result = tasks.flaky.delay("f1", 2)
    assert result.get(timeout=20) == {"retries": 2}
    assert int(r.get("runs:f1")) == 3


def test_status_is_retry_while_the_next_run_waits_in_redis(start_worker, r):
    start_worker("-c", "1")
    with r.pubsub() as notices:
        notices.subscribe(broker().keys.done("later-1"))
        assert notices.get_message(timeout=5)["type"] == "subscribe"
        result = tasks.retry_once_later.apply_async(task_id="later-1")
        assert notices.get_message(timeout=10) is not None  # the worker stored the RETRY state
    assert result.status == "RETRY"
    assert broker().scheduled.count() == 1 and broker().deliveries.inflight_count() == 0
    [member] = r.zrange(broker().keys.scheduled, 0, -1)
    assert b"|later-1|" in member and b'"r":1' in member  # same id, one retry counted


def test_after_the_last_retry_the_result_is_the_original_exception(start_worker, r):
    start_worker("-c", "1")
    result = tasks.never_works.delay("nw")
    with pytest.raises(tasks.PaymentDeclined, match="still declined"):
        result.get(timeout=20)
    assert int(r.get("runs:nw")) == 3  # the first run and max_retries=2 retries
    assert result.status == "FAILURE"


def test_autoretry_for_backs_off_exponentially(start_worker, r):
    start_worker("-c", "1")
    assert tasks.auto_flaky.delay("af", 3).get(timeout=30) == 4
    times = [float(t) for t in r.lrange("at:af", 0, -1)]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    # retry_backoff=0.1, no jitter: 0.1, 0.2, 0.4 s at least (each then waits for the next promotion)
    assert gaps[0] >= 0.1 and gaps[1] >= 0.2 and gaps[2] >= 0.4


def test_autoretry_gives_up_after_max_retries(start_worker, r):
    start_worker("-c", "1")
    with pytest.raises(OSError, match="failure 4"):
        tasks.auto_flaky.delay("af2", 10).get(timeout=30)
    assert int(r.get("runs:af2")) == 4


def test_max_retries_none_retries_forever(start_worker, r):
    start_worker("-c", "1")
    assert tasks.retries_forever.delay("rf", 8).get(timeout=30) == 7


def test_a_retry_is_scheduled_only_by_the_delivery_that_holds_the_lease(r):
    """Fencing covers retries: a refused ack schedules nothing (so a task cannot fork in two)."""
    from jobs.engine.redis.deliveries import Ack
    from jobs.engine.wire.message import Message

    broker = engine_app.current().broker
    broker.sends.enqueue([Message(id="fx", task="t")])
    fetched = broker.deliveries.fetch(broker.deliveries.plan(["default"], "w."), 1, 0)
    r.hdel(broker.keys.inflight, fetched.deliveries[0].token)  # as if recovered elsewhere
    retry = Message(id="fx", task="t", retries=1)
    token = fetched.deliveries[0].token
    refused = broker.deliveries.ack([Ack(token, "fx", '{"status":"RETRY"}', 1, f"9|default|{retry.encode()}")])
    assert refused and broker.scheduled.count() == 0


def test_an_exception_given_to_retry_is_raised_by_get_as_it_was(start_worker):
    """URLError(ConnectionRefusedError(...)): its argument JSON cannot carry is kept as text, so the
    rebuilt exception reads as the original, not "<urlopen error <urlopen error ...>>"."""
    from urllib.error import URLError

    start_worker("-c", "1")
    with pytest.raises(URLError) as raised:
        tasks.unreachable.delay().get(timeout=15)
    assert str(raised.value) == "<urlopen error [Errno 111] Connection refused>"
