"""Task hooks, Django signals, task loggers and error emails, in a real worker."""

import email

import pytest
import redis

from jobs.engine.setup import app as engine_app
from jobs.exceptions import TimeLimitExceeded
from tests.testapp import tasks


def test_hooks_and_signals_run_and_a_failing_one_changes_nothing(start_worker, r):
    worker = start_worker("-c", "1")
    ok = tasks.audited.delay(False)
    assert ok.get(timeout=10) == "ok"  # on_success and a task_success receiver both raised
    failed = tasks.audited.delay(True)
    failed.get(timeout=20, propagate=False)
    assert r.lrange("hooks", 0, -1) == [b"success:ok", b"after:SUCCESS", b"retry:first", b"after:RETRY",
                                        b"failure:ValueError:ValueError", b"after:FAILURE"]
    seen = [s.decode().split(":")[0] for s in r.lrange("signals", 0, -1) if b"audited" in s]
    assert seen == ["prerun", "success", "postrun-SUCCESS", "prerun", "retry-first", "postrun-RETRY",
                    "prerun", "failure-ValueError", "postrun-FAILURE"]
    worker.wait_for("a broken on_success hook")
    worker.wait_for("a broken receiver")
    assert engine_app.current().broker.deliveries.inflight_count() == 0 and worker.proc.poll() is None


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("pool", ["prefork", "threads"])
def test_a_sync_tasks_database_connection_is_closed_when_it_ends(start_worker, test_database_env, pool):
    # CONN_MAX_AGE is 0: what a task opened is closed as it ends (close_old_connections), though a
    # thread that never opened a connection skips that call (apps.py); the first task opens one.
    start_worker("-P", pool, "-c", "1", env=test_database_env)
    assert [tasks.sync_connection_was_open.delay().get(timeout=10) for _ in range(3)] == [False, False, False]


def test_worker_ready_and_shutdown_signals(start_worker, r):
    worker = start_worker("-P", "solo", "-n", "signal-worker")
    worker.signal(15)
    assert worker.wait(20) == 0
    assert r.lrange("signals", 0, -1) == [b"worker_ready:signal-worker:", b"worker_shutdown:signal-worker:"]


def test_worker_process_init_runs_in_each_prefork_child(start_worker, r):
    worker = start_worker("-c", "2")
    inits = {int(r.blpop(["process_init"], timeout=10)[1]) for _ in range(2)}
    assert inits == set(worker.children()) and worker.pid not in inits


def test_task_logger_records_carry_the_task_name_and_id(start_worker):
    worker = start_worker("-P", "solo")
    result = tasks.logs_something.delay("hello")
    result.get(timeout=10)
    line = worker.wait_for("task says hello")
    assert f"tests.testapp.tasks.logs_something[{result.id}]" in line


def _mails(folder):
    files = sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime)
    mails = [email.message_from_string(p.read_text()) for p in files]
    return [(" ".join(m["Subject"].split()), m["To"], m.get_payload(decode=True).decode()) for m in mails]


def test_error_emails_are_throttled_per_task_and_count_what_they_summarise(start_worker, r, tmp_path):
    mail = tmp_path / "mail"
    start_worker("-c", "1", settings={"ERROR_EMAILS": True, "ERROR_EMAIL_INTERVAL": 600},
                 env={"JOBS_TEST_MAIL_DIR": str(mail)})
    for i in range(3):
        tasks.fail.delay(f"declined {i}").get(timeout=10, propagate=False)
    [(subject, to, body)] = _mails(mail)  # one mail for three failures within the interval
    assert subject == "[Django] Task tests.testapp.tasks.fail failed: PaymentDeclined: declined 0"
    assert to == "ops@example.com" and 'args=["declined 0"] kwargs={}' in body
    assert "raise PaymentDeclined(message)" in body and "the first failure of this task" in body
    r.delete(engine_app.current().broker.keys.mail("tests.testapp.tasks.fail"))  # the interval is over
    tasks.fail.delay("declined 3").get(timeout=10, propagate=False)
    mails = _mails(mail)
    assert len(mails) == 2 and "3 failures of this task since the last mail" in mails[1][2]


def test_error_emails_show_arguments_redacted(start_worker, tmp_path):
    mail = tmp_path / "mail"
    start_worker("-P", "solo", settings={"ERROR_EMAILS": True}, env={"JOBS_TEST_MAIL_DIR": str(mail)})
    tasks.sign_in.delay("ann", "hunter2", token="t0k3n").get(timeout=10, propagate=False)
    [(_, _, body)] = _mails(mail)
    assert 'args=["ann","***"] kwargs={"token":"***"}' in body and "hunter2" not in body and "t0k3n" not in body


def test_a_blocking_hook_of_a_killed_task_does_not_stop_lease_renewal(start_worker, redis_server, r):
    """The supervisor kills a task at its hard limit and runs its on_failure, which blocks for 6 s,
    three leases long: the other task of that worker keeps its lease all along (no second run
    elsewhere), and the hook runs to its end all the same."""
    fast = {"LEASE_SECONDS": 2}
    worker = start_worker("-c", "2", settings=fast)
    other = tasks.block.delay("other")
    killed = tasks.spin_hard_slow_hook.delay("killed")
    r.blpop(["started:other"], timeout=10)
    r.blpop(["started:killed"], timeout=10)
    start_worker("-c", "1", "-n", "rescuer", settings=fast)  # would take `other` if its lease ran out
    assert r.blpop(["slow-hook:started"], timeout=4)[1] == b"TimeLimitExceeded"
    with pytest.raises(TimeLimitExceeded):
        killed.get(timeout=1)  # recorded before the hook ran, not after it
    patient = redis.Redis.from_url(redis_server.url, socket_timeout=20)  # the hook takes 6 s
    _, pid = patient.blpop(["slow-hook:ended"], timeout=10)
    assert int(pid) != worker.pid  # it ran apart, in a process of its own
    r.rpush("release:other", 1)
    assert other.get(timeout=10) == "other"
    assert r.lrange("deliveries:other", 0, -1) == [b"1"]  # never ran again elsewhere
