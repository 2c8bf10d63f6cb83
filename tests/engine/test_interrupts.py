"""threads and solo pools: the supervisor raises SoftTimeLimitExceeded and Terminated into a task's
thread. Such an exception must land in the task, never in the worker's code after the task returned
(its settlement, its ack, its next fetch). A real consumer in a thread, a real task and Redis; the
supervisor's Watch driven by the test at the moment that matters."""

import threading
from types import SimpleNamespace

import pytest

from jobs.engine.setup import app as engine_app
from jobs.engine.worker.board import Board
from jobs.engine.worker.consumer import Consumer
from jobs.engine.worker.watch import Watch
from tests.testapp import tasks

pytestmark = pytest.mark.django_db


def test_a_soft_limit_due_after_the_task_returned_is_not_raised_into_the_worker(r):
    app = engine_app.current()
    board = Board(1)
    consumer = Consumer(app, ["default"], 0, "t.0.0.", board, prefetch=0, hostname="test", interruptible=True)
    thread = threading.Thread(target=consumer.run, daemon=True)
    reached, go, landed = threading.Event(), threading.Event(), []

    def after_the_task(task, request, **_):
        # In the worker, after the task's function returned, before its run is settled.
        if task.name != tasks.nap.name:
            return
        reached.set()
        try:
            go.wait(10)
        except BaseException as exc:  # noqa: B036 - what landed here is the subject of the test
            landed.append(exc)

    app.hooks.connect("task_postrun", after_the_task)
    thread.start()
    try:
        result = tasks.nap.apply_async((0.05,), soft_time_limit=0.01)  # no supervisor: it runs past it
        assert reached.wait(10)
        assert board.running(0) is not None  # the board still shows it: the supervisor would act on it
        watch = Watch(SimpleNamespace(board=board))
        watch.pool = SimpleNamespace(kind="threads", ident=lambda slot: thread.ident)
        watch.check()  # its soft limit is due, but its task has returned
        go.set()  # one raised into the thread would land as its wait returns, inside the try
        assert result.get(timeout=10) == 0.05
        assert landed == []
    finally:
        app.hooks.disconnect("task_postrun", after_the_task)
        go.set()
        consumer.stop()
        thread.join(10)
