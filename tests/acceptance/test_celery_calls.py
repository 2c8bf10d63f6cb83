"""The Celery calls a literal port uses (issue 16's "missing calls"), with real workers: sig(),
chain(...)(), group(...)() send; task.apply() runs inline; shared_task is task; revoke(signal=...);
@task(throws=...) and @task(typing=...) honoured; enqueue_many takes signatures."""

from __future__ import annotations

import pytest
from django.test import override_settings

from jobs import EagerResult, chain, chord, enqueue_many, group
from jobs.engine.setup import app as engine_app
from tests.testapp import tasks


def test_calling_a_signature_or_a_workflow_sends_it(start_worker, r):
    start_worker("-c", "2")
    assert tasks.add.s(2, 3)().get(timeout=10) == 5
    assert chain(tasks.add.s(1, 1), tasks.add.s(10))().get(timeout=10) == 12
    assert group(tasks.add.s(1, 1), tasks.add.s(2, 2))().get(timeout=10) == [2, 4]
    chord([tasks.add.s(1, 1), tasks.add.s(2, 2)], tasks.collect.s("called"))().get(timeout=10)
    assert r.lrange("called", 0, -1) == [b"[2, 4]"]


def test_apply_runs_inline_through_the_worker_code_and_returns_a_final_result(r):
    result = tasks.add.apply((2, 3))
    assert isinstance(result, EagerResult) and result.get() == 5 and result.state == "SUCCESS"
    failed = tasks.fail.apply(("declined",))
    assert failed.state == "FAILURE" and isinstance(failed.result, tasks.PaymentDeclined)
    assert r.zcard(engine_app.current().keys.queue("default")) == 0  # nothing was sent
    with override_settings(JOBS={"EAGER_PROPAGATES": True}), pytest.raises(tasks.PaymentDeclined):
        tasks.fail.apply(("declined",))


def test_shared_task_is_task(start_worker):
    start_worker("-c", "1")
    assert tasks.shared.delay(21).get(timeout=10) == 42


def test_revoke_takes_celerys_signal_argument(r):
    result = tasks.add.apply_async((1, 1), countdown=600)
    result.revoke(terminate=True, signal="SIGKILL")
    result.revoke(signal="TERM")
    with pytest.raises(ValueError, match="not a signal"):
        result.revoke(signal="SIGNOPE")


def test_an_expected_exception_is_logged_at_info_without_a_traceback(start_worker):
    worker = start_worker("-c", "1")
    with pytest.raises(tasks.OutOfStock):
        tasks.reserve.delay("blue shirt").get(timeout=10)
    line = worker.wait_for(r"raised expected OutOfStock")
    assert "INFO" in line and "blue shirt is sold out" in line
    assert "Traceback" not in worker.output


def test_typing_checks_a_call_when_it_is_sent(r):
    with pytest.raises(TypeError, match=r"typed\(x, y=0\): missing a required argument: 'x'"):
        tasks.typed.delay()
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
        tasks.typed.apply_async((1,), {"z": 2})
    with pytest.raises(TypeError, match="too many positional arguments"):
        tasks.typed.s(1, 2, 3).delay()
    assert r.zcard(engine_app.current().keys.queue("default")) == 0
    tasks.typed.delay(1, y=2)
    assert r.zcard(engine_app.current().keys.queue("default")) == 1
    tasks.add.delay(1, 2, 3)  # typing is off by default: sent (and it fails in the worker)


def test_enqueue_many_takes_signatures_with_their_options(start_worker):
    start_worker("-Q", "default,math", "-c", "2")
    results = enqueue_many([tasks.add.s(1, 2), tasks.add.s(3, 4).set(queue="math"), (tasks.add, (5, 6), {})])
    assert [r.get(timeout=10) for r in results] == [3, 7, 11]
    assert results[1].queue == "math"
    with pytest.raises(TypeError, match="enqueue_many takes"):
        enqueue_many(["tests.testapp.tasks.add"])
