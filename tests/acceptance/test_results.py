"""Results worth reading, as a Celery user reads them: extended results (which task, arguments,
queue, worker, when), .info for every state, and a running task's own state (update_state,
progress), seen from this process while real workers run the tasks."""

import datetime as dt
import uuid

import pytest

from jobs import AsyncResult, GroupResult
from jobs.engine.execution.progress import INTERVAL, Reporter
from jobs.engine.setup import app as engine_app
from jobs.engine.wire.outcome import STARTED
from tests.redis_monitor import Monitor
from tests.testapp import tasks


def broker():
    return engine_app.current().broker


def test_info_for_success_failure_retry_and_a_custom_state(start_worker, r):
    start_worker("-c", "2")
    ok = tasks.add.delay(2, 3)
    assert ok.get(timeout=10) == 5 and ok.info == 5 and ok.result == 5

    bad = tasks.fail.delay("card declined")
    with pytest.raises(tasks.PaymentDeclined):
        bad.get(timeout=10)
    assert isinstance(bad.info, tasks.PaymentDeclined) and str(bad.info) == "card declined"

    with r.pubsub() as notices:
        notices.subscribe(broker().keys.done("retry-1"))
        assert notices.get_message(timeout=5)["type"] == "subscribe"
        later = tasks.retry_with_reason.apply_async(task_id="retry-1")
        assert notices.get_message(timeout=10) is not None  # the worker stored the RETRY state
    assert later.state == "RETRY"
    assert isinstance(later.result, tasks.PaymentDeclined) and isinstance(later.info, tasks.PaymentDeclined)
    assert str(later.info) == "the bank said: try later"

    resizing = tasks.custom_state.delay("cs")
    r.blpop(["started:cs"], timeout=10)  # it set its state before it said it started
    assert resizing.state == "RESIZING" and resizing.info == {"done": 1, "of": 4}
    assert not resizing.ready()
    r.rpush("release:cs", 1)
    assert resizing.get(timeout=10) == "cs" and resizing.state == "SUCCESS"


def test_an_extended_result_says_which_task_arguments_queue_and_worker(start_worker, r):
    worker = start_worker("-c", "1", "-n", "results@host")
    before = dt.datetime.now(dt.timezone.utc)
    result = tasks.echo.apply_async((1, "a", dt.date(2026, 11, 30)), {"k": [2]}, queue="default")
    assert result.get(timeout=10) == {"args": [1, "a", dt.date(2026, 11, 30)], "kwargs": {"k": [2]}}
    assert result.name == "tests.testapp.tasks.echo"
    assert result.args == [1, "a", dt.date(2026, 11, 30)] and result.kwargs == {"k": [2]}
    assert result.queue == "default" and result.worker == "results@host" and result.retries == 0
    assert result.date_done.tzinfo is dt.timezone.utc and result.date_started.tzinfo is dt.timezone.utc
    assert before <= result.date_started <= result.date_done <= dt.datetime.now(dt.timezone.utc)
    assert result.parent_id is None
    assert "results@host ready." in worker.output

    retried = tasks.flaky.delay("ext-flaky", 2)
    assert retried.get(timeout=20) == {"retries": 2} and retried.retries == 2


def test_a_task_sent_from_a_task_or_a_chain_names_its_parent(start_worker, r):
    start_worker("-c", "2")
    outer = tasks.calls_another.delay("parented")
    inner = AsyncResult(outer.get(timeout=10))
    assert inner.get(timeout=10) == outer.id and inner.parent_id == outer.id

    from jobs import chain

    last = chain(tasks.add.s(1, 2), tasks.add.s(10)).apply_async()
    assert last.get(timeout=10) == 13
    assert last.parent_id == last.parent.id


def test_progress_is_seen_from_another_process_while_the_task_runs(start_worker, redis_server, r):
    start_worker("-c", "1")
    monitor = Monitor(redis_server.port)
    try:
        result = tasks.stepwise.delay("pb", 3)
        r.blpop(["progress:pb"], timeout=10)
        assert result.state == "PROGRESS"
        assert result.info == {"current": 1, "total": 3, "percent": 33.3, "message": "step 1"}
        assert result.args == ["pb", 3] and result.date_started is not None
        r.rpush("release:pb:1", 1)
        r.blpop(["progress:pb"], timeout=10)
        # The second report may follow the first within a quarter of a second: then it is sent
        # when that interval has passed, by the worker's flusher thread. Await that write.
        monitor.wait_for_line(r'EVALSHA.*\\"current\\":2,', timeout=5)
        assert result.info["current"] == 2 and result.info["message"] == "step 2"
        r.rpush("release:pb:2", 1)
        r.rpush("release:pb:3", 1)
        assert result.get(timeout=10) == 3 and result.info == 3
    finally:
        monitor.close()


def test_fast_progress_reports_are_coalesced(start_worker, redis_server, r):
    start_worker("-c", "1")
    monitor = Monitor(redis_server.port)
    try:
        result = tasks.progress_burst.delay("burst", 500)
        r.blpop(["started:burst"], timeout=10)  # 500 reports made, as fast as the task can
        monitor.wait_for_line(r'EVALSHA.*\\"current\\":500,', timeout=5)  # the last one, after its interval
        assert result.info["current"] == 500 and result.state == "PROGRESS"
        writes = monitor.matching(r'EVALSHA.*\\"status\\":\\"PROGRESS\\"')
        # The first at once, then at most one per INTERVAL: 500 calls became a handful of writes.
        assert 2 <= len(writes) <= 10, writes
        r.rpush("release:burst", 1)
        assert result.get(timeout=10) == "burst"
    finally:
        monitor.close()
    assert INTERVAL == 0.25


def test_a_state_update_from_a_run_that_lost_its_lease_is_refused(r):
    """A worker that froze past its lease, whose task another worker now runs, cannot overwrite
    that run's state: the update is fenced by the delivery token, like an ack."""
    from jobs.engine.wire.message import Message

    b = broker()
    b.sends.enqueue([Message(id="fenced", task="tests.testapp.tasks.stepwise", args=("f", 1))])
    [delivery] = b.deliveries.fetch(b.deliveries.plan(["default"], "old."), 1, 0).deliveries
    def old_run():
        return Reporter(engine_app.current(), delivery.token, "fenced", "tests.testapp.tasks.stepwise",
                        "old-worker", lambda: None, 0.0)

    old_run().update("PROGRESS", {"current": 1})
    assert AsyncResult("fenced").info == {"current": 1}
    b.leases.requeue([delivery.token], lost=True)  # its lease is gone: another worker may take it
    [again] = b.deliveries.fetch(b.deliveries.plan(["default"], "new."), 1, 0).deliveries
    assert b.runs.started(again.token, "fenced", '{"status":"STARTED","task":"t","meta":{"by":"new"}}', record=False)
    old_run().update("PROGRESS", {"current": 2})  # the old run goes on, unaware: sent, and refused
    assert AsyncResult("fenced").state == STARTED and AsyncResult("fenced").info == {"by": "new"}


def test_update_state_refuses_outcomes_and_what_json_cannot_carry(start_worker):
    start_worker("-P", "solo")
    said = tasks.bad_state.delay("SUCCESS", {}).get(timeout=10)
    assert said.startswith("ValueError") and "set by jobs, not by the task" in said
    said = tasks.bad_state.delay("", {}).get(timeout=10)
    assert said.startswith("ValueError") and "non-empty string" in said
    said = tasks.bad_state.delay("PROGRESS", {"when": uuid.uuid4().hex}).get(timeout=10)
    assert said == "accepted"


def test_redacted_and_bounded_arguments_in_results_and_logs(start_worker, r):
    worker = start_worker("-c", "1")
    failed = tasks.sign_in.delay("ann", "hunter2", token="t0k3n", card_number="4111111111111111", note="hi")
    with pytest.raises(tasks.PaymentDeclined):
        failed.get(timeout=10)
    assert failed.args == ["ann", "***"]
    assert failed.kwargs == {"token": "***", "card_number": "***", "note": "hi"}
    line = worker.wait_for(r"Task tests.testapp.tasks.sign_in\[.*\] raised PaymentDeclined")
    assert '"***"' in line and "hunter2" not in worker.output and "t0k3n" not in worker.output
    assert "4111111111111111" not in worker.output

    blob = tasks.takes_a_blob.delay("x" * 100_000, 7)
    assert blob.get(timeout=10) == 100_000
    assert blob.args == ["<str of 100,002 bytes>", 7]  # STORED_ARGS_MAX (4096 bytes) by default
    assert len(r.get(broker().keys.result(blob.id))) < 5000


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1, 1e300, "5"])
def test_get_refuses_a_timeout_it_cannot_keep(r, bad):
    """nan compared false with every deadline and waited forever; inf overflowed it."""
    with pytest.raises((ValueError, TypeError), match=r"get\(timeout=\.\.\.\)"):
        AsyncResult("abc").get(timeout=bad)
    with pytest.raises((ValueError, TypeError), match=r"get\(timeout=\.\.\.\)"):
        GroupResult([AsyncResult("abc")]).get(timeout=bad)
