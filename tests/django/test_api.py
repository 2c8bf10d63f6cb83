"""The API a Django developer uses: @task, delay/apply_async, AsyncResult, eager mode, settings."""

import builtins
import datetime as dt
import json
import time

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

import jobs
from jobs import AsyncResult, task
from jobs.engine.errors import ConfigurationError, DuplicateTaskName, EncodeError, TaskFailed
from jobs.engine.setup import app as engine_app
from jobs.engine.setup.registry import Registry
from jobs.exceptions import TimeoutError
from tests.testapp import tasks


def test_calling_a_task_still_runs_it_here():
    assert tasks.add(2, 3) == 5
    assert tasks.add.name == "tests.testapp.tasks.add"
    assert tasks.send_welcome.name == "shop.send_welcome" and tasks.send_welcome.queue == "emails"


def test_delay_puts_one_message_on_the_default_queue(r):
    result = tasks.add.delay(2, 3)
    assert isinstance(result, AsyncResult)
    broker = engine_app.current().broker
    assert broker.controls.queue_length("default") == 1
    assert result.status == "PENDING" and not result.ready()


def test_apply_async_options_land_in_the_message(r):
    eta = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    tasks.add.apply_async((1, 2), queue="emails", priority=7, task_id="my-id-1")
    tasks.add.apply_async((1, 2), eta=eta, expires=dt.timedelta(hours=2))
    broker = engine_app.current().broker
    [(wire, score)] = r.zrange(broker.keys.queue("emails"), 0, -1, withscores=True)
    assert b"|my-id-1|" in wire and score == 2  # 9 - priority
    [(member, due)] = r.zrange(broker.keys.scheduled, 0, -1, withscores=True)
    assert due == pytest.approx(eta.timestamp() * 1000, abs=1)


@pytest.mark.parametrize("kwargs, error", [
    ({"priority": 10}, "priority must be an int from 0 to 9"),
    ({"priority": "high"}, "priority must be an int"),
    ({"eta": dt.datetime(2030, 1, 1)}, "has no time zone"),
    ({"countdown": 5, "eta": dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)}, "not both"),
    ({"queue": "bad queue"}, "queue for"),
    ({"task_id": "a|b"}, "task_id for"),
    ({"expires": "tomorrow"}, "expires must be"),
])
def test_bad_options_fail_before_anything_is_sent(r, kwargs, error):
    with pytest.raises((ValueError, TypeError), match=error):
        tasks.add.apply_async((1, 2), **kwargs)
    assert r.dbsize() == 0


def test_arguments_json_cannot_carry_fail_at_enqueue_naming_the_argument(r):
    with pytest.raises(EncodeError, match=r"tests.testapp.tasks.echo: kwargs\['when'\] cannot be sent.*set"):
        tasks.echo.delay(1, when={1, 2})
    assert r.dbsize() == 0


@pytest.mark.django_db
def test_a_model_instance_as_argument_says_to_pass_its_primary_key(r):
    user = User.objects.create(username="ada")
    with pytest.raises(EncodeError, match=r"args\[0\].*Django model instance \(User\).*primary key"):
        tasks.echo.delay(user)
    with override_settings(JOBS={"TASK_SERIALIZER": "pickle", "ACCEPT_CONTENT": ["json", "pickle"]}):
        with pytest.raises(EncodeError, match=r"kwargs\['u'\] is a Django model instance"):
            tasks.echo.delay(u=user)
    assert r.dbsize() == 0


def test_two_functions_with_one_name_are_rejected_naming_both(monkeypatch):
    monkeypatch.setattr("jobs.engine.send.task.registry", Registry())

    def first():
        pass

    def second():
        pass

    task(name="shop.same")(first)
    with pytest.raises(DuplicateTaskName, match=r"'shop.same' is used twice: by .*first and by .*second"):
        task(name="shop.same")(second)


def test_unknown_task_option_is_a_type_error():
    with pytest.raises(TypeError, match="unknown option.*retires"):
        task(retires=3)


def test_get_times_out_with_timeout_error(r):
    result = tasks.add.delay(1, 1)
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="not ready within 0.3 s"):
        result.get(timeout=0.3)
    assert 0.3 <= time.monotonic() - started < 2
    assert issubclass(TimeoutError, builtins.TimeoutError)


def test_forget_deletes_the_result(r):
    broker = engine_app.current().broker
    r.set(broker.keys.result("f1"), json.dumps({"status": "SUCCESS", "result": 7, "ct": "json"}))
    result = AsyncResult("f1")
    assert result.get(timeout=1) == 7 and result.successful()
    result.forget()
    assert AsyncResult("f1").status == "PENDING"


def test_a_stored_exception_is_rebuilt_only_from_loaded_exception_classes(r):
    broker = engine_app.current().broker

    def store(task_id, module, name):
        r.set(broker.keys.result(task_id), json.dumps({
            "status": "FAILURE", "exception": {"module": module, "name": name, "args": ["rm -rf /"],
                                               "message": "rm -rf /"}}))
        return AsyncResult(task_id)

    assert isinstance(store("a", "tests.testapp.tasks", "PaymentDeclined").result, tasks.PaymentDeclined)
    not_an_exception = store("b", "os", "system").result
    assert isinstance(not_an_exception, TaskFailed) and not_an_exception.exc_type == "os.system"
    not_loaded = store("c", "some_module_never_imported", "Boom").result
    assert isinstance(not_loaded, TaskFailed)
    assert "some_module_never_imported" not in __import__("sys").modules
    with pytest.raises(TaskFailed, match="os.system: rm -rf /"):
        AsyncResult("b").get(timeout=1)


def test_a_pickled_result_is_not_loaded_unless_accepted(r):
    broker = engine_app.current().broker
    r.set(broker.keys.result("p"), json.dumps({"status": "SUCCESS", "result": "gASVBQAAAAAAAACMAWGULg==",
                                               "ct": "pickle"}))
    with pytest.raises(jobs.exceptions.ContentDisallowed):
        AsyncResult("p").get(timeout=1)


@override_settings(JOBS={"EAGER": True})
def test_eager_mode_runs_inline_and_returns_a_finished_result(r):
    result = tasks.add.delay(2, 3)
    assert result.status == "SUCCESS" and result.get() == 5
    failed = tasks.fail.delay("declined")
    assert failed.failed() and isinstance(failed.result, tasks.PaymentDeclined)
    assert "PaymentDeclined: declined" in failed.traceback
    with pytest.raises(tasks.PaymentDeclined, match="declined"):
        failed.get()
    assert tasks.whoami.delay().get()["task"] == "tests.testapp.tasks.whoami"
    with pytest.raises(EncodeError, match=r"args\[0\]"):
        tasks.echo.delay({1})
    assert tasks.returns_a_set.delay().failed()
    assert r.dbsize() == 0  # eager mode never touches Redis


@override_settings(JOBS={"EAGER": True, "EAGER_PROPAGATES": True})
def test_eager_propagates_raises_at_the_call():
    with pytest.raises(tasks.PaymentDeclined, match="declined"):
        tasks.fail.delay("declined")


def test_settings_unknown_key_is_an_error_listing_known_keys():
    with override_settings(JOBS={"BROKER_ULR": "redis://x"}):
        with pytest.raises(ConfigurationError, match="unknown key.*BROKER_ULR.*known keys: .*BROKER_URL"):
            engine_app.current()
        with pytest.raises(SystemCheckError, match="jobs.E001"):
            call_command("check")


def test_broker_url_defaults_to_the_environment(monkeypatch):
    monkeypatch.setenv("JOBS_BROKER_URL", "redis://:secret@10.0.0.9:6380/3")
    engine_app.reset()
    assert engine_app.current().config.broker_url == "redis://:secret@10.0.0.9:6380/3"


def test_redis_cache_reuses_a_django_redis_alias(redis_server, r):
    caches = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": redis_server.url.replace("/0", "/2"),
                          "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"}}}
    with override_settings(CACHES=caches, JOBS={"REDIS_CACHE": "default"}):
        from django.core.cache import cache

        cache.set("k", "v")
        assert cache.get("k") == "v"
        assert engine_app.current().config.broker_url.endswith("/2")
        tasks.add.delay(1, 2)
        db2 = __import__("redis").Redis.from_url(redis_server.url.replace("/0", "/2"))
        assert db2.zcard("{jobs}:queue:default") == 1


def test_redis_cache_naming_a_missing_alias_says_so():
    with override_settings(JOBS={"REDIS_CACHE": "sessions"}):
        with pytest.raises(ConfigurationError, match="CACHES has no such alias"):
            engine_app.current()


def test_a_broker_url_redis_py_cannot_use_is_a_settings_error():
    with override_settings(JOBS={"BROKER_URL": "http://127.0.0.1:6379"}):
        with pytest.raises(ConfigurationError, match="redis://"):
            engine_app.current()


def test_an_unknown_time_zone_is_a_settings_error():
    with override_settings(JOBS={"TIMEZONE": "Europe/Berln"}):
        with pytest.raises(ConfigurationError, match="'Europe/Berln' is not a known time zone.*IANA"):
            engine_app.current()


@pytest.mark.django_db(transaction=False)
def test_eager_tasks_leave_the_callers_transaction_alone():
    from django.db import connection, transaction

    with override_settings(JOBS={"EAGER": True}):
        with transaction.atomic():
            User.objects.create(username="in-transaction")
            assert tasks.add.delay(1, 2).get() == 3
            assert connection.in_atomic_block and User.objects.filter(username="in-transaction").exists()


def test_headers_travel_with_the_call_to_the_task(r):
    """A call option added as options.py says: one row, one attribute, and its use."""
    from django.test import override_settings

    with override_settings(JOBS={"EAGER": True}):
        assert tasks.my_headers.apply_async(headers={"trace": "abc", "n": 1}).get() == {"trace": "abc", "n": 1}
        assert tasks.my_headers.s().set(headers={"tenant": "t1"}).delay().get() == {"tenant": "t1"}
        assert tasks.my_headers.delay().get() == {}
    with pytest.raises(TypeError, match="headers must be a dict with string keys"):
        tasks.my_headers.apply_async(headers=["x"])
