"""One record the database would refuse must never stop the task history (issue 31, break 7): it is
cleaned before the write (a NUL, a worker name longer than its column), or set aside with a stand-in
row when the database still refuses it, and the records behind it are written. Real workers; the
history read from the database (SQLite, and PostgreSQL when JOBS_TEST_DATABASE_URL names one: run
this file on both)."""

import json

import pytest
from django.db import connection

from jobs.models import TaskResult
from tests.acceptance.test_history import broker, wait_rows
from tests.conftest import Worker
from tests.testapp import tasks

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_nul_in_an_exception_message_does_not_stop_the_history(start_worker, test_database_env, r):
    worker = start_worker("-c", "1", env=test_database_env)
    bad = tasks.fail_builtin.delay("bad \x00")
    with pytest.raises(ValueError):
        bad.get(timeout=10)
    ok = [tasks.add.delay(i, 1) for i in range(20)]
    assert [res.get(timeout=10) for res in ok] == [i + 1 for i in range(20)]
    found = wait_rows(r, {bad.id: "FAILURE", **{res.id: "SUCCESS" for res in ok}})
    assert len(found) == 21
    row = found[bad.id]
    assert json.loads(row.result) == {"exc_type": "ValueError", "exc_message": "bad \x00"}  # JSON escapes it
    assert "\x00" not in row.traceback and "ValueError: bad \ufffd" in row.traceback
    worker.wait_for(r"the history record of tests\.testapp\.tasks\.fail_builtin\[.*\] was changed to fit the "
                    r"database: traceback: NUL characters replaced by U\+FFFD")
    assert "could not be written to the database" not in worker.output


def test_a_worker_name_longer_than_its_column_is_cut_in_the_history(test_database_env, r):
    """runworker refuses such a name (below); a worker started through the engine, or an older
    version, may still have one."""
    name = "w" * 300
    code = ("from jobs.engine.setup import app; from jobs.engine.worker import WorkerOptions, run; "
            "from jobs.management.commands.runworker import configure_logging; configure_logging(None); "
            "current = app.current(); "
            f"run(current, WorkerOptions.from_config(current.config, queues=['default'], concurrency=1, "
            f"hostname={name!r}))")
    worker = Worker(["-c", code], env=test_database_env, command="shell")
    try:
        worker.wait_for(r"ready\.$")
        results = [tasks.add.delay(i, i) for i in range(5)] + [tasks.fail.delay("declined")]
        found = wait_rows(r, {res.id: None for res in results})
        cut = "w" * 254 + "…"
        assert {row.worker for row in found.values()} == {cut}
        assert found[results[0].id].status == "SUCCESS" and found[results[-1].id].status == "FAILURE"
        worker.wait_for("worker: cut to 255 characters")
        assert "could not be written to the database" not in worker.output
    finally:
        worker.cleanup()


def test_runworker_refuses_a_name_the_history_cannot_store(test_database_env):
    worker = Worker(["-n", "w" * 300], env=test_database_env)
    try:
        assert worker.wait(30) != 0
        assert "-n/--hostname is 300 characters long: give at most 255" in worker.output
    finally:
        worker.cleanup()


def _refuse_results_holding(text):
    """Make the database refuse rows whose result holds `text` (a constraint of the table's), as
    MySQL refuses a 4-byte character in a utf8mb3 column: a refusal clean() cannot foresee."""
    table = TaskResult._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT jobs_test_refuse CHECK "
                           f"(result IS NULL OR result NOT LIKE '%{text}%')")
        else:
            for event in ("INSERT", "UPDATE"):
                cursor.execute(f"CREATE TRIGGER jobs_test_refuse_{event.lower()} BEFORE {event} ON {table} "
                               f"WHEN NEW.result LIKE '%{text}%' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END")


def _accept_them_again():
    table = TaskResult._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT jobs_test_refuse")
        else:
            for event in ("insert", "update"):
                cursor.execute(f"DROP TRIGGER jobs_test_refuse_{event}")


def test_a_record_the_database_refuses_is_set_aside_and_the_others_are_written(start_worker, test_database_env, r):
    _refuse_results_holding("refuse-me")
    try:
        worker = start_worker("-c", "1", env=test_database_env)
        refused = tasks.fail_builtin.delay("refuse-me")
        with pytest.raises(ValueError):
            refused.get(timeout=10)
        ok = [tasks.add.delay(i, 1) for i in range(20)]
        assert [res.get(timeout=10) for res in ok] == [i + 1 for i in range(20)]
        found = wait_rows(r, {refused.id: "FAILURE", **{res.id: "SUCCESS" for res in ok}})
        row = found[refused.id]
        assert json.loads(row.result)["unrecordable"].startswith(
            "the database refused this task's history record (IntegrityError: ")
        assert (row.name, row.args, row.traceback, row.args_complete) == ("tests.testapp.tasks.fail_builtin", None,
                                                                          None, False)
        worker.wait_for(r"the database refused the history record of tests\.testapp\.tasks\.fail_builtin\[\S+\] "
                        r"\(IntegrityError: .*\); a row in its place says so; the other records are written")
        assert "could not be written to the database" not in worker.output
        assert broker().history.waiting() == (0, {})
    finally:
        _accept_them_again()


def test_an_error_naming_a_file_whose_name_is_not_utf8_is_stored_and_recorded(start_worker, test_database_env, r):
    """Such an error's text holds a lone surrogate, which UTF-8 cannot carry: its result document
    could not be sent to Redis, and the consumer died on each run of the task. It travels escaped."""
    worker = start_worker("-c", "1", env=test_database_env)
    failed = tasks.parse_file.delay(b"/data/\xff.csv".hex())
    with pytest.raises(ValueError, match="^cannot parse /data/\udcff.csv$"):
        failed.get(timeout=10)
    sent = tasks.fail_builtin.delay("bad \udcff")  # an argument holding one travels the same way
    with pytest.raises(ValueError, match="^bad \udcff$"):
        sent.get(timeout=10)
    after = tasks.add.delay(1, 2)
    assert after.get(timeout=10) == 3
    found = wait_rows(r, {failed.id: "FAILURE", sent.id: "FAILURE", after.id: "SUCCESS"})
    assert json.loads(found[failed.id].result)["exc_message"] == "cannot parse /data/\udcff.csv"
    assert "ValueError: cannot parse /data/?.csv" in found[failed.id].traceback  # the database cannot hold it
    assert json.loads(found[sent.id].args) == ["bad \udcff"]
    assert "crashed" not in worker.output
