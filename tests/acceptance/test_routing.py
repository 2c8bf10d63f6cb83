"""Routing and priorities: JOBS["ROUTES"], what wins over what, the order in which a worker serves its
queues and a queue's priorities, and `jobs status` warning about queues nobody serves."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from django.test import override_settings

from jobs import send_task
from jobs.engine.errors import ConfigurationError
from jobs.engine.setup import app as engine_app
from tests.testapp import tasks


def broker():
    return engine_app.current().broker


def queued(queue: str) -> list[tuple[str, int]]:
    """(task name, priority) of each message waiting in `queue`, in the order a worker takes them."""
    from jobs.engine.wire.message import decode

    wires = broker().link.call("ZRANGE", broker().keys.queue(queue), 0, -1)
    return [(m.task, m.priority) for m in (decode(w, queue, ("json",)) for w in wires)]


def by_customer(name, args, kwargs, options):
    if name == "tests.testapp.tasks.record" and args and str(args[0]).startswith("vip"):
        return {"queue": "vip", "priority": 8}
    return None


ROUTES = [
    {"shop.*": "mail", re.compile(r"tests\.testapp\.tasks\.(add|mul)$"): {"queue": "math", "priority": 7}},
    by_customer,
    {"tests.testapp.tasks.*": "testing"},  # after the callable: the callable is asked first
]


def test_routes_glob_dict_callable_first_match_wins():
    with override_settings(JOBS={"ROUTES": ROUTES}):
        tasks.send_welcome.delay(1)             # @task(queue="emails"), but ROUTES says mail
        tasks.add.delay(1, 2)
        tasks.record.delay("vip:1", 1)
        tasks.record.delay("plain", 1)
        send_task("shop.unknown_here", (1,))    # not registered in this process: routed by name
        assert queued("mail") == [("shop.send_welcome", 0), ("shop.unknown_here", 0)]
        assert queued("math") == [("tests.testapp.tasks.add", 7)]
        assert queued("vip") == [("tests.testapp.tasks.record", 8)]
        assert queued("testing") == [("tests.testapp.tasks.record", 0)]


def test_the_call_wins_over_routes_and_routes_over_the_decorator():
    with override_settings(JOBS={"ROUTES": {"tests.testapp.tasks.add": {"queue": "math", "priority": 7}}}):
        tasks.add.apply_async((1, 1), queue="urgent", priority=2)
        tasks.add.apply_async((1, 1), priority=9)    # the queue still comes from ROUTES
        tasks.send_welcome.delay(1)                  # no route: its own @task(queue="emails")
        tasks.record.delay("k", 1)                     # no route, no queue: DEFAULT_QUEUE
        assert queued("urgent") == [("tests.testapp.tasks.add", 2)]
        assert queued("math") == [("tests.testapp.tasks.add", 9)]
        assert queued("emails") == [("shop.send_welcome", 0)]
        assert queued("default") == [("tests.testapp.tasks.record", 0)]


@pytest.mark.parametrize("routes, message", [
    ({"reports.*": "no spaces allowed"}, r"JOBS\['ROUTES'\]\['reports.\*'\] queue is 'no spaces allowed'"),
    ({"reports.*": {"queue": "r", "prio": 1}}, r"unknown route key\(s\) \['prio'\]; known: queue, priority"),
    ({"reports.*": {"priority": 10}}, "priority must be an int from 0 to 9"),
    ("reports", "must be a dict of pattern -> queue, a callable, or a list"),
    ([{"a.*": "a"}, 42], r"JOBS\['ROUTES'\]\[1\] must be a dict or a callable"),
])
def test_a_bad_route_is_a_settings_error_that_says_what_to_write(routes, message):
    with override_settings(JOBS={"ROUTES": routes}):
        with pytest.raises(ConfigurationError, match=message):
            engine_app.current()


def test_a_callable_route_returning_nonsense_fails_the_call_not_later():
    with override_settings(JOBS={"ROUTES": lambda name, args, kwargs, options: 42}):
        with pytest.raises(ConfigurationError, match="a route is a queue name or a dict"):
            tasks.add.delay(1, 1)
    assert queued("default") == []


def test_a_worker_serves_its_queues_in_order_and_priorities_within_each(start_worker, r):
    for queue, label in (("low", "low"), ("default", "default"), ("high", "high")):
        tasks.record.apply_async(("order", label), queue=queue)
    for priority in (0, 9, 5):
        tasks.record.apply_async(("order", f"default-p{priority}"), priority=priority)
    start_worker("-Q", "high,default,low", "-P", "solo")
    seen = []
    while len(seen) < 6:
        _, value = r.blpop(["order"], timeout=10)
        seen.append(value.decode().split(":")[0])
    assert seen == ["high", "default-p9", "default-p5", "default", "default-p0", "low"]


@pytest.mark.django_db(transaction=True)
def test_beat_asks_callable_routes_with_the_periodic_tasks_arguments(r):
    import datetime as dt

    from jobs.engine.beat.scheduler import Beat
    from jobs.models import IntervalSchedule, PeriodicTask
    from jobs.stores.schedules_db import ScheduleDatabase

    t0 = dt.datetime(2026, 11, 21, 12, tzinfo=dt.timezone.utc)
    row = PeriodicTask.objects.create(name="vip sync", task="tests.testapp.tasks.record", args=["vip:7", 1],
                                      schedule=IntervalSchedule.objects.create(every=1, period="seconds"))
    PeriodicTask.objects.filter(pk=row.pk).update(date_created=t0)
    with override_settings(JOBS={"ROUTES": [by_customer]}):
        Beat(engine_app.current(), ScheduleDatabase()).tick(t0 + dt.timedelta(seconds=1))
    assert queued("vip") == [("tests.testapp.tasks.record", 8)]


def test_status_warns_of_a_routed_queue_no_live_worker_serves(start_worker, capsys):
    start_worker("-Q", "default,emails", "-P", "solo")
    with override_settings(JOBS={"ROUTES": {"tests.testapp.tasks.add": "math", "reports.*": "reports"}}):
        call_command("jobs", "status")
    err = capsys.readouterr().err
    assert "no live worker consumes queue 'math', where tests.testapp.tasks.add is routed" in err
    assert "no live worker consumes queue 'reports', where ROUTES['reports.*'] is routed" in err
    assert "'emails'" not in err and "'default'" not in err
