# ruff: noqa: E402  (the module skips itself before importing the task API it tests)
"""The django.tasks contract, on jobs: the cases of Django's own tests/tasks (test_tasks.py and
test_immediate_backend.py, Django 6.0 and 6.1), written again here against JobsBackend, with a real
Redis and a real `runworker`: enqueue, the worker runs it, refresh(), and the assertions Django
makes of its own backends. On Django 5.2 the same cases run through the django-tasks backport.

Cases of Django's suites that do not apply to a backend with a worker, and why:
  - ImmediateBackend's "the result is final when enqueue() returns", its three log lines during
    enqueue(), and "KeyboardInterrupt propagates out of enqueue()": here the task runs in a worker,
    so enqueue() returns READY; the worker's side of those cases is below (the log lines appear
    once each in the worker's log; a KeyboardInterrupt in a task is not recorded as its failure).
  - ImmediateBackend's "get_result / refresh raise NotImplementedError", "run_after is refused":
    JobsBackend supports both (the opposite is tested).
  - DummyBackend's `.results` / `.clear()` (its own storage) and CustomBackend's own options.
  - test_refresh_result's "refresh() changes nothing": true only while nothing runs the task; here
    it is checked with no worker running.
"""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import datetime as dt
import pickle
import signal

import django
import pytest
from django.test import override_settings
from django.utils import timezone

from tests import settings as test_settings

if not test_settings.TASKS_API:
    pytest.skip("Django 5.2 without the django-tasks backport (pip install django-tasks)", allow_module_level=True)

from jobs.engine.send.asyncresult import AsyncResult
from jobs.engine.setup import app as engine_app
from tests.conftest import ROOT, wait_dead
from tests.djangotasks import tasks as t
from tests.redis_monitor import Monitor

try:
    from django.tasks import Task, TaskResultStatus, default_task_backend, task, task_backends
    from django.tasks.exceptions import InvalidTask, InvalidTaskBackend, TaskResultDoesNotExist, TaskResultMismatch
    from django.tasks.signals import task_enqueued, task_finished, task_started
except ImportError:  # Django 5.2: the backport
    from django_tasks import TaskResultStatus, default_task_backend, task, task_backends
    from django_tasks.base import Task
    from django_tasks.exceptions import InvalidTaskBackendError as InvalidTaskBackend
    from django_tasks.exceptions import InvalidTaskError as InvalidTask
    from django_tasks.exceptions import TaskResultDoesNotExist, TaskResultMismatch
    from django_tasks.signals import task_enqueued, task_finished, task_started

from jobs.backend import JobsBackend, JobsTask, band

pytestmark = pytest.mark.django_db
OPTIONS_PASS = t.OPTIONS_PASS
NO_OPTIONS = "Django 6.0's @task takes no keywords of a backend's (6.1 and the backport do)"
READY, RUNNING = TaskResultStatus.READY, TaskResultStatus.RUNNING
SUCCESSFUL, FAILED = TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED


def finished(result, timeout: float = 20.0):
    """Wait for the worker to end the task (its done channel: an event), then refresh()."""
    AsyncResult(result.id).get(timeout=timeout, propagate=False)
    result.refresh()
    return result


def ordered(result) -> None:
    assert None not in (result.enqueued_at, result.started_at, result.last_attempted_at, result.finished_at)
    assert result.enqueued_at <= result.started_at <= result.last_attempted_at <= result.finished_at


# -- the Task API and its validation: no worker needed -------------------------------------------


def test_the_backend_and_its_flags():
    backend = task_backends["default"]
    assert isinstance(backend, JobsBackend) and default_task_backend == backend
    assert backend.alias == "default" and backend.options == {}
    flags = ("supports_defer", "supports_async_task", "supports_get_result", "supports_priority")
    assert all(getattr(backend, flag) is True for flag in flags)
    assert list(backend.check()) == []


def test_the_decorator_makes_tasks_of_ours():
    for each in (t.noop_task, t.noop_task_async, t.noop_task_from_bare_decorator):
        assert isinstance(each, Task) and isinstance(each, JobsTask)
    assert t.noop_task.name == "noop_task" and t.noop_task.module_path == "tests.djangotasks.tasks.noop_task"
    from django.utils.module_loading import import_string

    assert import_string(t.noop_task.module_path) is t.noop_task
    # The worker finds it by that name, beside the @jobs.task tasks.
    assert engine_app.current().registry.get("tests.djangotasks.tasks.noop_task").django_task is t.noop_task


def test_using_makes_a_new_task_and_changes_nothing_else():
    now = timezone.now()
    assert t.noop_task.using(priority=1).priority == 1 and t.noop_task.priority == 0
    assert t.noop_task.using(queue_name="emails").queue_name == "emails" and t.noop_task.queue_name == "default"
    first = t.noop_task.using(run_after=now)
    second = first.using(priority=10)
    assert (second.priority, second.run_after, first.priority) == (10, now, 0)
    copy = t.noop_task.using()
    assert copy == t.noop_task and copy is not t.noop_task


def test_validation_messages():
    with pytest.raises(InvalidTask, match="run_after must be an aware datetime"):
        t.noop_task.using(run_after=dt.datetime.now())
    for bad in (-101, 101, 3.1):
        with pytest.raises(InvalidTask, match="priority must be a whole number between -100 and 100"):
            t.noop_task.using(priority=bad)
    for good in (100, -100, 0):
        t.noop_task.using(priority=good)
    with pytest.raises(InvalidTask, match="Queue 'queue-2' is not valid for backend"):
        t.noop_task.using(queue_name="queue-2")
    for fn in (any, test_validation_messages.__get__(object())):
        with pytest.raises(InvalidTask, match="Task function must be defined at a module level"):
            task()(fn)
    with pytest.raises(InvalidTask, match="Task takes context but does not have a first argument of 'context'"):
        task(takes_context=True)(t.calculate_meaning_of_life.func)
    with pytest.raises(InvalidTaskBackend):
        t.noop_task.using(backend="unknown")


def test_enqueue_validates_again_under_other_settings():
    elsewhere = t.noop_task.using(queue_name="low")
    with override_settings(TASKS={"default": {"BACKEND": "jobs.backend.JobsBackend", "QUEUES": ["queue-1"]}}):
        with pytest.raises(InvalidTask, match="Queue 'low' is not valid for backend"):
            elsewhere.enqueue()
        with pytest.raises(InvalidTask, match="Queue 'low' is not valid for backend"):
            asyncio.run(elsewhere.aenqueue())


@pytest.mark.skipif(not OPTIONS_PASS, reason=NO_OPTIONS)
def test_our_options_pass_through_the_decorator():
    declared = task(time_limit=30, soft_time_limit=20, max_retries=5, retry_backoff=True, rate_limit="10/s",
                    unique_for=60, acks_late=False)(t.calculate_meaning_of_life.func)
    assert isinstance(declared, JobsTask) and declared.time_limit == 30 and declared.rate_limit == "10/s"
    known = engine_app.current().registry.get(declared.module_path)
    assert (known.time_limit, known.soft_time_limit, known.max_retries, known.retry_backoff) == (30, 20, 5, True)
    assert (known.unique_for, known.acks_late, known.rate_limit) == (60, False, "10/s")
    assert t.too_slow.time_limit == 1 and engine_app.current().registry.get(t.too_slow.module_path).time_limit == 1


@pytest.mark.skipif(not OPTIONS_PASS, reason=NO_OPTIONS)
def test_an_unknown_option_names_the_known_ones():
    with pytest.raises(TypeError, match=r"unknown option\(s\) retries; .*time_limit.*max_retries"):
        task(retries=3)(t.calculate_meaning_of_life.func)
    with pytest.raises(InvalidTask, match="time_limit must be a positive number"):
        task(time_limit=-1)(t.calculate_meaning_of_life.func)


def test_options_of_the_backend_are_refused():
    with override_settings(TASKS={"default": {"BACKEND": "jobs.backend.JobsBackend", "OPTIONS": {"prefix": "x"}}}):
        with pytest.raises(InvalidTaskBackend, match="OPTIONS.*takes nothing"):
            t.noop_task.enqueue()


@pytest.mark.skipif(not hasattr(Task, "_reconstruct"), reason="Tasks and results pickle from Django 6.1 on")
def test_tasks_and_results_pickle():
    assert pickle.loads(pickle.dumps(t.noop_task)) == t.noop_task
    result = t.noop_task.enqueue()
    assert pickle.loads(pickle.dumps(result)) == result


def test_priority_bands_keep_django_order():
    bands = [band(p) for p in range(-100, 101)]
    assert bands == sorted(bands) and bands[0] == 0 and bands[-1] == 9 and band(0) == 4
    assert len(set(bands)) == 10


# -- enqueue and get_result, before any worker runs the task --------------------------------------


def test_enqueue_leaves_a_ready_result_that_any_process_can_read(r):
    result = t.noop_task.enqueue(1, two=3)
    assert result.status == READY and not result.is_finished and result.attempts == 0
    assert (result.args, result.kwargs, result.task, result.backend) == ([1], {"two": 3}, t.noop_task, "default")
    assert result.enqueued_at is not None and result.started_at is None and result.finished_at is None
    with pytest.raises(ValueError, match="Task has not finished yet"):
        _ = result.return_value
    read = t.noop_task.get_result(result.id)
    assert read == result  # the same fields, read back from Redis
    before = dataclasses.asdict(result)
    result.refresh()
    asyncio.run(result.arefresh())
    assert dataclasses.asdict(result) == before
    assert asyncio.run(t.noop_task.aget_result(result.id)) == result
    assert r.zcard(engine_app.current().keys.queue("default")) == 1


def test_enqueue_is_one_round_trip_with_its_record(r, redis_server):
    t.noop_task.enqueue()  # warm: connection made, scripts loaded
    monitor = Monitor(redis_server.port)
    try:
        start = monitor.barrier(r) + 1
        result = t.noop_task.enqueue(7)
        sent = monitor.lines[start:monitor.barrier(r)]
    finally:
        monitor.close()
    assert [command for client, command, _ in sent if client != "lua"] == ["EVALSHA"]
    assert any(command == "RPUSH" and result.id in text for client, command, text in sent if client == "lua")


def test_arguments_json_cannot_carry_are_refused_and_nothing_is_sent(r):
    with pytest.raises(TypeError, match="Unsupported type"):
        t.noop_task.enqueue(dt.datetime.now())
    with pytest.raises(TypeError, match="Unsupported type"):
        asyncio.run(t.noop_task.aenqueue(dt.datetime.now()))
    assert r.zcard(engine_app.current().keys.queue("default")) == 0


def test_missing_and_mismatched_results():
    with pytest.raises(TaskResultDoesNotExist):
        t.noop_task.get_result("123")
    with pytest.raises(TaskResultDoesNotExist):
        asyncio.run(t.noop_task.aget_result("123"))
    other = default_task_backend.enqueue(t.noop_task_async, (), {})
    with pytest.raises(TaskResultMismatch, match="Task does not match"):
        t.noop_task.get_result(other.id)
    with pytest.raises(TaskResultMismatch, match="Task does not match"):
        asyncio.run(t.noop_task.aget_result(other.id))


def test_run_after_and_priority_reach_the_queue(r):
    keys = engine_app.current().keys
    later = t.noop_task.using(run_after=timezone.now() + dt.timedelta(minutes=5)).enqueue()
    assert r.zcard(keys.scheduled) == 1 and t.noop_task.get_result(later.id).status == READY
    t.send_welcome.enqueue(1)
    t.send_welcome.using(priority=-100).enqueue(2)
    scores = sorted(int(score) for _, score in r.zrange(keys.queue("emails"), 0, -1, withscores=True))
    assert scores == [9 - band(50), 9 - band(-100)]  # 9 - priority: band 7 before band 0


def same_fields(read, result) -> None:
    """Every field of two TaskResults (the private return value too), one by one, then as a whole."""
    for field in dataclasses.fields(result):
        assert getattr(read, field.name) == getattr(result, field.name), field.name
    assert read == result


def test_a_result_read_by_id_is_the_one_enqueue_returned_with_the_calls_options(r):
    """issue 23: get_result(id).task came back with the task's defaults, not the .using() options
    the call was sent with (queue_name, priority, run_after, backend)."""
    when = timezone.now() + dt.timedelta(minutes=5)
    tasks_setting = {"default": {"BACKEND": "jobs.backend.JobsBackend", "QUEUES": ["default", "emails", "low"]},
                     "other": {"BACKEND": "jobs.backend.JobsBackend", "QUEUES": ["low"]}}
    with override_settings(TASKS=tasks_setting):
        called = t.send_welcome.using(queue_name="low", priority=-20, run_after=when, backend="other")
        result = called.enqueue(7)
        for read in (task_backends["other"].get_result(result.id), task_backends["default"].get_result(result.id),
                     t.send_welcome.get_result(result.id), asyncio.run(called.aget_result(result.id))):
            same_fields(read, result)
            assert (read.task.queue_name, read.task.priority, read.task.run_after, read.task.backend) == (
                "low", -20, when, "other")
        assert result.task != t.send_welcome  # the options were the call's, not the task's
        plain = t.send_welcome.enqueue(8)
        same_fields(default_task_backend.get_result(plain.id), plain)
        refreshed = called.enqueue(9)
        refreshed.refresh()
        assert refreshed.task == called


def test_the_worker_and_the_final_result_keep_the_calls_options(start_worker):
    start_worker("-Q", "default,emails,low", "-c", "1")
    called = t.reports_how_called.using(queue_name="low", priority=60)
    result = finished(called.enqueue())
    assert result.status == SUCCESSFUL and result.return_value == ["low", 60, "default", None]
    assert result.task == called and default_task_backend.get_result(result.id) == result


def test_the_set_up_example_of_the_docs_runs_as_written(r):
    """docs/django-tasks.md's set-up example, verbatim (from django_tasks on 5.2): it said
    .using(run_after=timedelta(...)), which Django refuses (a datetime, aware with USE_TZ)."""
    page = (ROOT / "docs" / "django-tasks.md").read_text()
    [example] = [block for block in page.split("```python\n")[1:] if "send_welcome.using(" in block]
    source = example.split("```")[0]
    if not hasattr(django, "tasks"):
        source = source.replace("from django.tasks import", "from django_tasks import")
    code = compile(source, "docs/django-tasks.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    namespace = {"__name__": "tests.docs_example"}
    pending = eval(code, namespace)  # noqa: S307 - the docs' own example
    if pending is not None:
        asyncio.run(pending)
    later = [h for h in engine_app.current().broker.link.call("ZRANGE", engine_app.current().keys.scheduled, 0, -1)]
    assert len(later) == 1 and namespace["result"].status == READY


# -- with a worker: what Django asserts of its backends once a task has run -------------------------


def test_a_task_runs_on_the_worker_and_its_result_is_read_back(start_worker):
    worker = start_worker("-Q", "default,emails", "-c", "2")
    for each in (t.noop_task, t.noop_task_async):
        result = finished(each.enqueue(1, two=3))
        assert result.status == SUCCESSFUL and result.is_finished and result.return_value is None
        assert (result.args, result.kwargs, result.task, result.attempts) == ([1], {"two": 3}, each, 1)
        assert result.worker_ids == [worker.wait_for(r"ready\.$").split()[-2]]
        ordered(result)
    assert finished(default_task_backend.enqueue(t.calculate_meaning_of_life, [], {})).return_value == 42
    assert finished(t.send_welcome.enqueue(42)).return_value == {"sent": 42}

    async def in_async_code():
        result = await t.calculate_meaning_of_life.aenqueue()
        await asyncio.get_running_loop().run_in_executor(None, AsyncResult(result.id).get, 20)
        await result.arefresh()
        return result

    result = asyncio.run(in_async_code())
    assert (result.status, result.return_value) == (SUCCESSFUL, 42)


@pytest.mark.parametrize("each, exception, message", [
    (t.failing_task_value_error, ValueError, "This Task failed due to ValueError"),
    (t.failing_task_system_exit, SystemExit, "This Task failed due to SystemExit"),
])
def test_a_failure_is_recorded_with_its_class_and_traceback(start_worker, each, exception, message):
    worker = start_worker("-c", "1")
    result = finished(each.enqueue())
    assert result.status == FAILED and result.is_finished and result._return_value is None
    with pytest.raises(ValueError, match="Task failed"):
        _ = result.return_value
    ordered(result)
    [error] = result.errors
    assert error.exception_class == exception
    assert error.traceback.endswith(f"{exception.__name__}: {message}\n")
    assert (result.args, result.kwargs, result.attempts) == ([], {}, 1)
    # Logged once, by Django's own receivers (the worker adds no line of its own for it).
    worker.wait_for(rf"id={result.id} .*state=FAILED")
    worker.wait_for(rf"id={result.id} .*state=RUNNING")
    assert len([line for line in worker.output.splitlines() if result.id in line and "FAILED" in line]) == 1
    assert f"[{result.id}] raised" not in worker.output
    assert worker.pid and "consumer 0 crashed" not in worker.output  # SystemExit failed the task, not the worker


def test_a_keyboard_interrupt_is_not_taken_for_the_tasks_own_failure(start_worker):
    """Django's ImmediateBackend lets it propagate out of enqueue(). In a worker it propagates too:
    it ends the process running the task, as it would any program, and the worker deals with that as
    with any lost process: the task fails with WorkerLostError, and the slot gets a new process."""
    worker = start_worker("-c", "1")
    result = finished(t.failing_task_keyboard_interrupt.enqueue())
    assert result.status == FAILED
    assert [e.exception_class_path for e in result.errors] == ["jobs.engine.errors.WorkerLostError"]
    worker.wait_for("KeyboardInterrupt: This Task failed due to KeyboardInterrupt")
    assert finished(t.calculate_meaning_of_life.enqueue()).return_value == 42


def test_complex_exceptions_and_return_values(start_worker):
    start_worker("-c", "1")
    raised = finished(t.complex_exception.enqueue())
    assert raised.status == FAILED and raised.errors[0].exception_class is ValueError
    assert 'ValueError(ValueError("This task failed"))' in raised.errors[0].traceback
    returned = finished(t.complex_return_value.enqueue())
    assert returned.status == FAILED and returned._return_value is None
    assert returned.errors[0].exception_class is TypeError and "Unsupported type" in returned.errors[0].traceback
    ordered(returned)


def test_a_task_that_takes_context(start_worker):
    start_worker("-c", "1")
    result = finished(t.get_task_id.enqueue())
    assert result.return_value == result.id
    assert finished(t.test_context.enqueue(1)).status == SUCCESSFUL


@pytest.mark.skipif(not OPTIONS_PASS, reason=NO_OPTIONS)
def test_each_retry_is_an_attempt_with_its_error(start_worker):
    start_worker("-c", "1")
    result = t.flaky.enqueue(2)
    finished(result)
    assert (result.status, result.return_value, result.attempts) == (SUCCESSFUL, 3, 3)
    assert [e.exception_class for e in result.errors] == [ConnectionError, ConnectionError]
    assert "attempt 1 failed" in result.errors[0].traceback and "attempt 2 failed" in result.errors[1].traceback
    ordered(result)
    assert result.started_at < result.last_attempted_at


@pytest.mark.skipif(not OPTIONS_PASS, reason=NO_OPTIONS)
def test_our_time_limit_ends_a_django_task(start_worker):
    start_worker("-c", "1")
    result = finished(t.too_slow.enqueue())
    assert result.status == FAILED
    assert [e.exception_class_path.rsplit(".", 1)[-1] for e in result.errors] in (
        ["SoftTimeLimitExceeded"], ["TimeLimitExceeded"])


def test_a_lease_that_ran_out_is_an_attempt(start_worker, r):
    settings = {"LEASE_SECONDS": 2}
    first = start_worker("-c", "1", settings=settings)
    result = t.crash_once.enqueue("k1")
    assert r.blpop(["started:k1"], timeout=20)[1] == b"1"
    assert t.crash_once.get_result(result.id).status == RUNNING
    children = first.children()
    first.kill9()
    wait_dead(children)  # its consumer dies with it (PR_SET_PDEATHSIG), its task unfinished
    second = start_worker("-c", "1", settings=settings)
    finished(result, timeout=30)
    assert (result.status, result.return_value, result.attempts) == (SUCCESSFUL, 2, 2)
    assert len(result.worker_ids) == 2 and result.errors == []
    assert second.pid != first.pid


def test_signals_reach_receivers_in_the_worker_once_each(start_worker):
    worker = start_worker("-c", "1", "-l", "debug")
    result = finished(t.noop_task.enqueue())
    worker.wait_for(rf"id={result.id} .*state=SUCCESSFUL")
    lines = [line for line in worker.output.splitlines() if f"id={result.id}" in line]
    assert [("RUNNING" in line, "SUCCESSFUL" in line) for line in lines] == [(True, False), (False, True)]
    assert "None" not in " ".join(lines)


def test_a_worker_that_is_asked_to_stop_mid_task_hands_it_back(start_worker, r):
    """A task interrupted from outside (the worker's warm shutdown) is not recorded as failed: its
    delivery goes back to the queue and the next worker's start is another attempt."""
    worker = start_worker("-c", "1", "--shutdown-timeout", "0.5")
    result = t.crash_once.enqueue("k2")
    r.blpop(["started:k2"], timeout=20)
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0
    assert t.crash_once.get_result(result.id).status in (READY, RUNNING)
    start_worker("-c", "1")
    finished(result, timeout=30)
    assert (result.status, result.attempts, result.errors) == (SUCCESSFUL, 2, [])


# -- EAGER mode: inline, through the worker's own code, as Django's ImmediateBackend ------------------


def test_eager_mode_runs_the_task_inline_and_returns_its_final_result(caplog):
    logger = "django_tasks" if t.TaskContext.__module__.startswith("django_tasks") else "django.tasks"
    sent = []

    def receiver(sender, task_result, signal, **kwargs):
        sent.append((signal, sender, task_result.id, task_result.status))

    for each in (task_enqueued, task_started, task_finished):
        each.connect(receiver)
    try:
        with override_settings(JOBS={"EAGER": True}), caplog.at_level("DEBUG", logger=logger):
            result = eager_runs()
    finally:
        for each in (task_enqueued, task_started, task_finished):
            each.disconnect(receiver)
    assert [(s, sender, status) for s, sender, i, status in sent if i == result.id] == [
        (task_enqueued, JobsBackend, READY), (task_started, JobsBackend, RUNNING),
        (task_finished, JobsBackend, SUCCESSFUL)]
    lines = [record.getMessage() for record in caplog.records if result.id in record.getMessage()]
    assert [line.split()[3] for line in lines] == ["enqueued", "state=RUNNING", "state=SUCCESSFUL"]


def eager_runs():
    """What EAGER mode gives back at once: final results, as ImmediateBackend's."""
    result = t.noop_task.enqueue(1, two=3)
    assert (result.status, result.return_value, result.args, result.kwargs) == (SUCCESSFUL, None, [1], {"two": 3})
    assert result.attempts == 1
    ordered(result)
    failed = t.failing_task_value_error.enqueue()
    assert failed.status == FAILED and failed.errors[0].exception_class is ValueError
    assert failed.errors[0].traceback.endswith("ValueError: This Task failed due to ValueError\n")
    assert t.get_task_id.enqueue().status == SUCCESSFUL
    assert t.calculate_meaning_of_life.enqueue().return_value == 42
    return result
