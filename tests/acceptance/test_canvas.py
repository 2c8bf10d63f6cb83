"""Subtasks and workflows on real workers: chain, group, chord, their failures, a chord whose worker
is killed in the middle, and eager mode."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

from jobs import AsyncResult, ChordError, GroupResult, chain, chord, group, signature
from jobs.engine.errors import ConfigurationError
from tests.testapp import tasks
from tests.testapp.tasks import PaymentDeclined


def test_a_chain_passes_each_result_to_the_next(start_worker):
    start_worker("-P", "solo")
    result = chain(tasks.add.s(1, 1), tasks.add.s(10), tasks.add.s(100)).delay()
    assert result.get(timeout=10) == 112
    assert result.parent.get(timeout=1) == 12 and result.parent.parent.get(timeout=1) == 2
    assert result.parent.parent.parent is None
    piped = (tasks.add.s(1, 1) | tasks.add.si(5, 5) | signature("tests.testapp.tasks.add", (1,))).delay()
    assert piped.get(timeout=10) == 11  # si: 5 + 5, not given the 2


def test_a_failure_stops_the_chain_and_shows_on_its_result(start_worker, r):
    start_worker("-P", "solo")
    result = chain(tasks.add.s("a", "b"), tasks.fail.s(), tasks.record.si("after", 1),
                   tasks.add.s(1)).delay()
    with pytest.raises(PaymentDeclined, match="ab"):
        result.get(timeout=10)
    assert "not run: step tests.testapp.tasks.fail" in result.traceback
    assert result.parent.status == "FAILURE" and result.parent.parent.status == "FAILURE"
    assert result.parent.parent.parent.get(timeout=1) == "ab"
    assert r.llen("after") == 0  # the steps after the failure never ran


def test_a_group_runs_in_parallel_and_gathers_in_order(start_worker):
    start_worker("-c", "2")
    result = group(tasks.add.s(i, i) for i in range(20)).delay()
    assert isinstance(result, GroupResult) and len(result) == 20
    assert result.get(timeout=20) == [2 * i for i in range(20)]
    assert result.ready() and result.successful() and result.completed_count() == 20


def test_a_task_may_send_subtasks_itself(start_worker):
    start_worker("-c", "2")
    ids = tasks.fan_out.delay(5).get(timeout=10)
    assert GroupResult([AsyncResult(i) for i in ids]).get(timeout=10) == [0, 2, 4, 6, 8]


def test_a_chord_calls_back_once_with_every_result(start_worker, r):
    start_worker("-c", "2")
    result = chord(tasks.add.s(i, i) for i in range(10))(tasks.collect.s("calls"))
    assert result.get(timeout=20) == sum(2 * i for i in range(10))
    assert [json.loads(v) for v in r.lrange("calls", 0, -1)] == [[2 * i for i in range(10)]]
    assert result.parent.get(timeout=1) == [2 * i for i in range(10)]


def test_a_chord_with_a_failed_member_fails_its_callback_without_running_it(start_worker, r):
    start_worker("-P", "solo")
    result = chord([tasks.add.s(1, 1), tasks.fail.s("declined"), tasks.add.s(2, 2)], tasks.collect.s("calls")).delay()
    with pytest.raises(ChordError, match=r"member tests.testapp.tasks.fail\[.*\] of the chord ended FAILURE: "
                                         r"PaymentDeclined: declined; the callback did not run"):
        result.get(timeout=10)
    assert r.llen("calls") == 0


def test_a_chord_survives_its_worker_killed_in_the_middle(start_worker, r):
    """Members run on a worker that is killed (with its children) while two of them run; another
    worker takes them over when their leases run out. The callback runs exactly once, with all."""
    first = start_worker("-c", "2", settings={"LEASE_SECONDS": 2})
    names = [f"m{i}" for i in range(6)]
    result = chord(tasks.block.s(n) for n in names)(tasks.collect.s("calls"))
    started = [r.blpop([f"started:{n}" for n in names], timeout=10) for _ in range(2)]
    assert all(started)
    first.cleanup()  # kill -9 of the worker and its children: a lost host
    for name in names:
        r.rpush(f"release:{name}", *(["go"] * 3))  # enough for every delivery
    start_worker("-c", "2", settings={"LEASE_SECONDS": 2})
    assert result.get(timeout=30) == len(names)
    calls = [json.loads(v) for v in r.lrange("calls", 0, -1)]
    assert calls == [names]  # once, with every member's result, in the chord's order
    redelivered = [n for n in names if r.llen(f"deliveries:{n}") > 1]
    assert len(redelivered) >= 1  # the killed ones ran again


def test_workflows_in_eager_mode_run_inline():
    with override_settings(JOBS={"EAGER": True}):
        assert chain(tasks.add.s(1, 1), tasks.add.s(10)).delay().get() == 12
        assert group(tasks.add.s(i, 1) for i in range(3)).delay().get() == [1, 2, 3]
        assert chord([tasks.add.s(1, 1), tasks.add.s(2, 2)], tasks.collect.s("eager")).delay().get() == 6
        failed = chord([tasks.fail.s("no")], tasks.add.s(0)).delay()
        assert failed.failed() and isinstance(failed.result, ChordError)
        with pytest.raises(ConfigurationError, match="not registered here"):
            signature("billing.only_on_workers").delay()


def test_a_big_chords_messages_do_not_carry_every_members_id(r):
    chord(tasks.add.s(i, i) for i in range(300))(tasks.collect.s("calls"))
    wires = r.zrange("{jobs}:queue:default", 0, -1)
    assert len(wires) == 300 and max(len(w) for w in wires) < 1000


def test_eager_chain_failure_shows_on_the_last_steps_result():
    with override_settings(JOBS={"EAGER": True}):
        result = chain(tasks.fail.s("no"), tasks.add.s(1), tasks.add.s(2)).delay()
        assert result.failed() and isinstance(result.result, PaymentDeclined)
        assert result.parent.failed() and result.parent.parent.failed()


@pytest.mark.django_db(transaction=True)
def test_workflows_wait_for_the_commit_like_delay(r):
    from django.db import transaction

    with override_settings(JOBS={"ENQUEUE_ON_COMMIT": True}):
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                tasks.add.s(1, 1).delay()
                chain(tasks.add.s(1, 1), tasks.add.s(2)).delay()
                group(tasks.add.s(i, i) for i in range(3)).delay()
                chord([tasks.add.s(1, 1)], tasks.collect.s("calls")).delay()
                signature("billing.only_on_workers").delay()
                raise RuntimeError("rolled back")
        assert r.zcard("{jobs}:queue:default") == 0
        with transaction.atomic():
            chain(tasks.add.s(1, 1), tasks.add.s(2)).delay()
            assert r.zcard("{jobs}:queue:default") == 0
        assert r.zcard("{jobs}:queue:default") == 1


def test_a_signature_of_a_unique_task_is_unique_too(r):
    first = tasks.sync_shop.delay(5)
    assert tasks.sync_shop.s(5).delay().id == first.id


def test_bad_workflows_say_what_is_wrong():
    with pytest.raises(TypeError, match="must be signatures like add.s"):
        chain(tasks.add.s(1, 1), tasks.add)
    with pytest.raises(ValueError, match="at least one member"):
        chord([], tasks.add.s(1))
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['qeue'\]"):
        tasks.add.s(1, 1).set(qeue="x")
    with pytest.raises(ValueError, match="needs at least one member"):
        chain(tasks.add.s(1, 1), group([]), tasks.add.s(2)).delay()
    with pytest.raises(ValueError, match="time_limit must be a positive number"):
        signature("billing.only_on_workers", time_limit=-1).delay()


def test_link_and_link_error_follow_a_task_as_in_celery(start_worker, r):
    """link: sent with the result in front, in the step that acknowledges the task; link_error: an
    errback that takes (request, exc, traceback) is called in the worker, any other is sent with the
    failed task's id; on a signature, on apply_async, and on a chain's step."""
    start_worker("-c", "2")
    tasks.add.apply_async((2, 3), link=[tasks.remember.s("linked"), tasks.remember.si(7, "linked")])
    assert sorted(json.loads(r.blpop(["linked"], timeout=10)[1]) for _ in range(2)) == [5, 7]

    failing = tasks.fail.apply_async(("declined",), link=tasks.remember.s("never"),
                                     link_error=[tasks.errback_of.s("errors"), tasks.failed_id.s("errors-old")])
    task_id, name, kind, text, has_traceback = json.loads(r.blpop(["errors"], timeout=10)[1])
    assert (task_id, name, kind, text, has_traceback) == (failing.id, "tests.testapp.tasks.fail",
                                                          "PaymentDeclined", "declined", True)
    assert r.blpop(["errors-old"], timeout=10)[1].decode() == failing.id

    sig = tasks.add.s(1, 1)
    assert sig.link(tasks.remember.s("from-sig")).task == "tests.testapp.tasks.remember"
    sig.delay()
    assert json.loads(r.blpop(["from-sig"], timeout=10)[1]) == 2
    tasks.fail.s("no").on_error(tasks.failed_id.s("sig-errors")).delay()
    assert r.blpop(["sig-errors"], timeout=10)
    chained = chain(tasks.add.s(1, 2).set(link=tasks.remember.s("step-linked")), tasks.add.s(10)).delay()
    assert chained.get(timeout=10) == 13 and json.loads(r.blpop(["step-linked"], timeout=10)[1]) == 3
    assert r.llen("never") == 0
    with pytest.raises(TypeError, match="link must be a signature"):
        tasks.add.apply_async((1, 1), link="tests.testapp.tasks.remember")


def test_link_and_link_error_in_eager_mode(r):
    with override_settings(JOBS={"EAGER": True}):
        assert tasks.add.apply_async((2, 3), link=tasks.remember.s("eager-linked")).get() == 5
        assert json.loads(r.lpop("eager-linked")) == 5
        failed = tasks.fail.apply_async(("no",), task_id="eager-failed", link_error=[
            tasks.errback_of.s("eager-errors"), tasks.failed_id.s("eager-errors-old")])
        assert failed.status == "FAILURE"
        assert json.loads(r.lpop("eager-errors"))[:3] == ["eager-failed", "tests.testapp.tasks.fail", "PaymentDeclined"]
        assert r.lpop("eager-errors-old").decode() == "eager-failed"
