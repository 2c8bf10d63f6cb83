"""What a worker does when a task, a message or Redis misbehaves: it stays up and loses nothing."""

import signal
import threading

import pytest
from django.test import override_settings

from jobs.engine.setup import app as engine_app
from jobs.engine.worker.board import Board
from jobs.engine.worker.consumer import Consumer
from jobs.exceptions import BrokerUnavailable, EncodeError, TaskFailed, TimeoutError
from tests.testapp import tasks


def broker():
    return engine_app.current().broker


def test_sys_exit_in_a_task_fails_the_task_not_the_worker(start_worker):
    worker = start_worker("-c", "1")
    with pytest.raises(TaskFailed, match="SystemExit: 3"):  # never re-raised as SystemExit in the caller
        tasks.exits.delay().get(timeout=10)
    assert tasks.add.delay(1, 1).get(timeout=10) == 2
    assert "consumer 0" not in worker.output  # no consumer died


@pytest.mark.parametrize("pool", ["prefork", "threads"])
def test_a_result_that_cannot_be_encoded_fails_once_and_is_not_run_again(start_worker, r, pool):
    pickle_ok = {"ACCEPT_CONTENT": ["json", "pickle"]}
    start_worker("-P", pool, "-c", "1", settings=pickle_ok)
    with override_settings(JOBS=pickle_ok):
        with pytest.raises(EncodeError, match="pickle result serializer cannot carry"):
            tasks.returns_unpicklable.delay().get(timeout=10)
    assert tasks.add.delay(1, 1).get(timeout=10) == 2  # FIFO, one consumer: it would have re-run first
    assert r.llen("unpicklable-runs") == 1


def test_a_worker_rides_out_redis_refusing_writes(start_worker, r):
    worker = start_worker("-c", "1")
    r.config_set("maxmemory-policy", "noeviction")
    r.config_set("maxmemory", 1)
    try:
        worker.wait_for("Redis call failed \\(OutOfMemoryError", timeout=20)
    finally:
        r.config_set("maxmemory", 0)
    worker.wait_for("works again", timeout=30)
    assert tasks.add.delay(2, 2).get(timeout=20) == 4
    assert worker.proc.poll() is None


def test_with_prefetch_a_finished_task_is_not_held_back_by_the_next_one(start_worker, r):
    start_worker("-c", "1", "--prefetch", "1")
    napped = tasks.nap.delay(0.2)  # longer than the 50 ms ACK_DELAY
    tasks.block.delay("behind")
    r.blpop(["started:behind"], timeout=10)
    assert napped.get(timeout=5) == 0.2  # stored while the task fetched with it still runs
    r.rpush("release:behind", 1)


def test_many_settled_deliveries_do_not_pile_up_on_the_board(r):
    app = engine_app.current()
    board = Board(1)
    consumer = Consumer(app, ["default"], 0, "t.0.0.", board, prefetch=0, hostname="test")
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    try:
        for _ in range(100):
            tasks.fire_and_forget.delay("fired")
        tasks.block.delay("board")
        r.blpop(["started:board"], timeout=10)
        assert r.llen("fired") == 100
        assert len(board.held(0)) <= 1  # only the running task: the renewal list stays short
    finally:
        consumer.stop()
        r.rpush("release:board", 1)
        thread.join(10)


def test_get_is_bounded_when_redis_hangs(redis_server):
    result = tasks.add.delay(1, 1)
    redis_server.freeze()
    try:
        with pytest.raises((TimeoutError, BrokerUnavailable)):  # within ENQUEUE_TIMEOUT (2 s here)
            result.get(timeout=0.5)
    finally:
        redis_server.thaw()


def test_sigterm_right_after_start_still_stops_the_worker(start_worker):
    worker = start_worker("-c", "2")
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0
