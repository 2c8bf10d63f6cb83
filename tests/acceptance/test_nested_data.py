"""Lists and dicts nested too deeply, or inside themselves (issue 31, break 8): refused at delay()
naming the argument, a clear failure when a task returns them, dead letters with the reason for a
message written by hand, and a history recorder that survives what an older version left behind.
Real `runworker` processes; the history read from the database (SQLite, and PostgreSQL when
JOBS_TEST_DATABASE_URL names one)."""

import json

import pytest

from jobs.engine.errors import EncodeError
from jobs.engine.redis.broker import Broker
from jobs.engine.redis.deliveries import Ack
from jobs.engine.setup.config import Config
from jobs.engine.wire.arguments import MAX_DEPTH
from jobs.engine.wire.message import Message
from jobs.engine.wire.outcome import Outcome, about
from jobs.engine.wire.outcome import encode as encode_result
from jobs.models import TaskResult
from tests.acceptance.test_history import broker, wait_rows
from tests.signed import signed
from tests.testapp import tasks

pytestmark = pytest.mark.django_db(transaction=True)


def nest(depth):
    value = []
    for _ in range(depth - 1):
        value = [value]
    return value


class HandWritten(Message):
    """A message as someone wrote it into Redis by hand, or an older version sent it: its wire
    text as given, whatever the checks of Message.encode say."""

    __slots__ = ()

    def encode(self, key=None):  # signed as the producer signs (tests/signed.py): it tests its nesting
        return signed(f"{int(1e15):013x}|0|{self.id}|{self.task}|{json.dumps(list(self.args))}", key).decode()


def test_arguments_nested_too_deeply_are_refused_at_delay_and_at_the_limit_they_run(start_worker,
                                                                                   test_database_env, r):
    for depth in (MAX_DEPTH + 1, 600, 5000):
        with pytest.raises(EncodeError, match=rf"tests\.testapp\.tasks\.add: args\[0\] is nested deeper than "
                                              rf"{MAX_DEPTH} levels"):
            tasks.add.delay(nest(depth), [])
    loop = []
    loop.append(loop)
    with pytest.raises(EncodeError, match=r"kwargs\['y'\] contains itself \(a circular reference at "
                                          r"kwargs\['y'\]\[0\]\)"):
        tasks.add.delay(x=[], y=loop)
    assert r.zcard(broker().keys.queue("default")) == 0  # nothing was sent
    start_worker("-c", "1", env=test_database_env)
    deepest = tasks.add.delay(nest(MAX_DEPTH), [])
    assert deepest.get(timeout=10) == nest(MAX_DEPTH)
    row = wait_rows(r, {deepest.id: "SUCCESS"})[deepest.id]
    assert json.loads(row.args) == [nest(MAX_DEPTH), []] and json.loads(row.result) == nest(MAX_DEPTH)


def test_a_task_returning_a_value_nested_too_deeply_or_inside_itself_fails_clearly(start_worker,
                                                                                   test_database_env, r):
    worker = start_worker("-c", "1", env=test_database_env)
    deep, circular = tasks.nested.delay(MAX_DEPTH + 50), tasks.nested.delay(0, circular=True)
    with pytest.raises(EncodeError, match=f"the value it returned is nested deeper than {MAX_DEPTH} levels"):
        deep.get(timeout=10)
    with pytest.raises(EncodeError, match=r"the value it returned contains itself \(a circular reference at "
                                          r"result\[0\]\)"):
        circular.get(timeout=10)
    after = tasks.add.delay(1, 2)
    assert after.get(timeout=10) == 3
    found = wait_rows(r, {deep.id: "FAILURE", circular.id: "FAILURE", after.id: "SUCCESS"})
    assert "nested deeper than" in json.loads(found[deep.id].result)["exc_message"]
    assert "internal error" not in worker.output and "crashed" not in worker.output


def test_a_message_nested_too_deeply_written_by_hand_is_dead_lettered_and_recorded(start_worker, test_database_env,
                                                                                    r):
    """What an older version sent, or someone wrote by hand: the worker moves it to the dead letters
    saying why; the recorder writes its row and the others'."""
    worker = start_worker("-c", "1", env=test_database_env)
    broker().sends.enqueue([HandWritten(id="deep-by-hand", task="tests.testapp.tasks.add", args=(nest(600), []))])
    ok = [tasks.add.delay(i, 1) for i in range(19)]
    assert [res.get(timeout=10) for res in ok] == [i + 1 for i in range(19)]
    found = wait_rows(r, {"deep-by-hand": "REJECTED", **{res.id: "SUCCESS" for res in ok}})
    reason = json.loads(found["deep-by-hand"].result)["reason"]
    assert f"args[0] is nested deeper than {MAX_DEPTH} levels" in reason
    assert found["deep-by-hand"].args.startswith('"<not shown: ') and not found["deep-by-hand"].args_complete
    worker.wait_for(r"moved to the dead letters: message deep-by-hand \(tests\.testapp\.tasks\.add\): args\[0\] is "
                    r"nested deeper")
    assert "internal error" not in worker.output and "recorder crashed" not in worker.output


def test_the_recorder_survives_a_bad_record_and_writes_the_others_of_its_batch(start_worker, test_database_env,
                                                                               redis_server, r):
    """Break 8's crash loop: what an older worker left in the history stream (the dead letter of a
    message nested 600 deep, which the redactor could not walk; and a record nested too deeply for
    JSON) in one batch with 19 outcomes. The recorder logs the unreadable one once, skips it, and
    writes the rest; it does not crash, nor try them again."""
    old = Broker(Config(broker_url=redis_server.url, history=True))  # the scripts an older worker ran
    messages = [Message(id=f"ok-{i}", task="tests.testapp.tasks.add", args=(i, 1)) for i in range(19)]
    old.sends.enqueue(messages[:10])
    old.sends.enqueue([HandWritten(id="old-dead", task="tests.testapp.tasks.add", args=(nest(600), []))])
    old.sends.enqueue(messages[10:])
    fetched = old.deliveries.fetch(old.deliveries.plan(["default"], "old."), 20, 0)
    acks = []
    for delivery in fetched.deliveries:
        task_id = delivery.wire.split(b"|")[2].decode()
        if task_id == "old-dead":
            old.runs.bury(delivery.token, "internal error in the worker: RecursionError: maximum recursion depth "
                                     "exceeded", "old-worker")
            r.xadd(old.keys.history, {"r": '{"status":"SUCCESS","id":"unreadable","result":' + "[" * 2000
                                      + "]" * 2000 + "}"})
            continue
        doc = encode_result(Outcome("SUCCESS", 2), "tests.testapp.tasks.add", "json", "old-worker",
                            about(task_id, ([1, 1], {}, True), "default", 0, 0.0, None))
        acks.append(Ack(delivery.token, task_id, doc, history="s="))
    assert old.deliveries.ack(acks) == []
    assert r.xlen(old.keys.history) == 21

    worker = start_worker("-c", "1", env=test_database_env)
    found = wait_rows(r, {"old-dead": "REJECTED", **{m.id: "SUCCESS" for m in messages}})
    assert "unreadable" not in found and len(found) == 20
    assert "<not shown: " in found["old-dead"].args
    worker.wait_for(r"history record \S+ could not be read \(nested too deeply to be read\); skipped")
    assert broker().history.waiting() == (0, {})  # all of the batch left the stream: nothing is tried again
    assert worker.output.count("could not be read") == 1 and "recorder crashed" not in worker.output
    assert TaskResult.objects.count() == 20
