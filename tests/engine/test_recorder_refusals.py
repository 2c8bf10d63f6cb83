"""The history recorder's defences against one bad record (issue 31, break 7), on a store of our
own: every record made storable (clean), a batch the database refuses written in halves down to the
records it refuses, each set aside with a stand-in row; a database that is away keeps the batch."""

import json

import pytest

from jobs.engine.ops.records import CUT, INT_MAX, Record, clean, unrecordable
from jobs.engine.worker.recorder import Recorder


def record(task_id, **fields):
    values = dict(task_id=task_id, name="t.x", status="SUCCESS", args="[]", kwargs="{}", args_complete=True,
                  result="1", traceback=None, queue="default", worker="w", retries=0, date_enqueued=1.0,
                  date_started=2.0, date_done=3.0, runtime=1.0, parent_id=None, stage=3)
    return Record(**{**values, **fields})


LIMITS = {"task_id": 255, "name": 255, "status": 64, "queue": 200, "worker": 255, "parent_id": 255}


def test_clean_makes_a_record_storable_and_says_what_it_changed():
    fine = record("a")
    assert clean(fine, LIMITS) == (fine, []) and clean(fine, LIMITS)[0] is fine
    row, said = clean(record("b", traceback="ValueError: bad \x00", worker="w" * 300, name="\ud800x",
                             retries=-1, stage=10**12, date_done=float("inf"), runtime=float("nan"), queue=7), LIMITS)
    assert row.traceback == "ValueError: bad \ufffd" and row.worker == "w" * 254 + CUT and len(row.worker) == 255
    assert row.name == "?x" and row.queue == "7" and (row.retries, row.stage) == (0, INT_MAX)
    assert row.date_done is None and row.runtime is None and row.date_started == 2.0
    assert {field for field, _ in said} == {"traceback", "worker", "name", "retries", "stage", "date_done", "runtime"}


class Refused(Exception):
    """What a database says of a value it will not take (DataError)."""


class Away(Exception):
    """What a database that is down says (OperationalError)."""


class Store:
    """A HistoryStore that refuses rows whose result is "poison" or whose name is, or everything while away."""

    limits = LIMITS

    def __init__(self):
        self.rows = {}
        self.writes = 0
        self.away = False

    def store(self, records):
        self.writes += 1
        if self.away:
            raise Away("connection refused")
        if any(r.result == '"poison"' or r.name == "poison" for r in records):
            raise Refused("value refused")
        self.rows.update((r.task_id, r) for r in records)

    @staticmethod
    def refused(exc):
        return isinstance(exc, Refused)


def test_a_batch_refused_for_one_record_is_written_in_halves_and_that_one_set_aside(caplog):
    store = Store()
    recorder = Recorder(None, store, "rec")
    rows = [record(f"t{i}", result='"poison"' if i == 137 else "1") for i in range(500)]
    recorder._store(rows)
    assert sorted(store.rows) == sorted(f"t{i}" for i in range(500))
    stand_in = store.rows["t137"]
    assert stand_in.status == "SUCCESS" and stand_in.args is None and not stand_in.args_complete
    assert json.loads(stand_in.result)["unrecordable"].startswith("the database refused this task's history "
                                                                   "record (Refused: value refused)")
    assert store.writes < 25  # halves, not 500 writes one by one
    [line] = [r.getMessage() for r in caplog.records]
    assert line.startswith("the database refused the history record of t.x[t137] (Refused: value refused); a row "
                           "in its place says so")


def test_a_record_whose_stand_in_is_refused_too_is_dropped_and_said_so(caplog):
    store = Store()
    Recorder(None, store, "rec")._store([record("a"), record("b", name="poison"), record("c")])
    assert sorted(store.rows) == ["a", "c"]
    [line] = [r.getMessage() for r in caplog.records]
    assert "of poison[b] (Refused: value refused); a row in its place was refused too" in line


def test_a_database_that_is_away_keeps_the_whole_batch():
    store = Store()
    store.away = True
    recorder = Recorder(None, store, "rec")
    with pytest.raises(Away):
        recorder._store([record("a"), record("b", result='"poison"')])
    assert store.rows == {} and store.writes == 1


def test_a_stand_in_keeps_the_task_and_drops_what_may_have_been_refused():
    row = unrecordable(record("a", traceback="tb", args="[1]"), "DataError: no")
    assert (row.task_id, row.status, row.args, row.kwargs, row.traceback) == ("a", "SUCCESS", None, None, None)
    assert "DataError: no" in json.loads(row.result)["unrecordable"]
