"""Every door a number comes in by, fed odd numbers (issue 31): a call's options, @task(...), JOBS,
django.tasks' .using(priority=...) and @task(...), the management commands' flags.

Each value is either refused at the door, with an error naming the option (and the task), before
anything reaches Redis; or accepted with the meaning listed here, which the docs say (docs/tasks.md,
docs/settings.md). The doors are enumerated from the code's own tables (options.FIELDS,
task_options.TASK_OPTIONS, conf.KNOWN, the commands' parsers), so a new option is fed these values too,
and fails here until it is checked or its meaning written down.
"""

from __future__ import annotations

import argparse
import dataclasses
import math

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command, load_command_class
from django.test import override_settings

from jobs import conf, task
from jobs.engine.errors import ConfigurationError, JobsError
from jobs.engine.setup import app as engine_app
from jobs.engine.setup.config import Config
from jobs.engine.setup.number_settings import NUMBERS
from jobs.engine.setup.registry import registry
from jobs.engine.setup.task_options import TASK_OPTIONS
from jobs.engine.wire.header import Header
from jobs.engine.wire.options import FIELDS
from tests.testapp import tasks

ODD = [float("nan"), float("inf"), float("-inf"), 1e300, -0.0, 10**30, "5"]
IDS = ["nan", "inf", "-inf", "1e300", "-0.0", "10**30", "'5'"]
ADD = "tests.testapp.tasks.add"


def _waiting(r) -> list[dict]:
    """The envelopes of the messages on the default queue."""
    broker = engine_app.current().broker
    return [Header(wire.decode()).fields() for wire in r.zrange(broker.keys.queue("default"), 0, -1)]


# -- apply_async and signatures: options.FIELDS -------------------------------------------------------

#: (option, value) accepted by apply_async, and what it means there (docs/tasks.md).
CALL_ACCEPTS = {
    ("countdown", "-0.0"): lambda r: engine_app.current().broker.scheduled.count() == 0 and len(_waiting(r)) == 1,
    ("expires", "-0.0"): lambda r: _waiting(r)[0]["xp"] == {"in": 0.0},  # already expired: never started
    ("queue", "'5'"): lambda r: engine_app.current().broker.controls.queue_length("5") == 1,  # a queue named 5
    ("task_id", "'5'"): lambda r: len(_waiting(r)) == 1,  # a task whose id is "5"
    ("spread_key", "'5'"): lambda r: len(_waiting(r)) == 1,  # a key like any text (no QUEUE_SPREAD: unused)
}


@pytest.mark.parametrize("value", ODD, ids=IDS)
@pytest.mark.parametrize("option", sorted(FIELDS))
def test_apply_async_refuses_an_odd_number_naming_the_option_and_the_task(r, option, value):
    try:
        tasks.add.apply_async((1, 2), **{option: value})
    except (TypeError, ValueError, JobsError) as exc:
        assert option in str(exc) and ADD in str(exc), exc
        assert r.dbsize() == 0, "refused, but something was sent"
        return
    meaning = CALL_ACCEPTS.get((option, IDS[ODD.index(value)]))
    assert meaning is not None, f"apply_async({option}={value!r}) was accepted: refuse it, or document what it means"
    assert meaning(r)


@pytest.mark.parametrize("value", ODD, ids=IDS)
@pytest.mark.parametrize("option", sorted(FIELDS))
def test_a_signature_refuses_an_odd_number_naming_the_option_and_the_task(r, option, value):
    try:
        tasks.add.s(1, 2).set(**{option: value})
    except (TypeError, ValueError, JobsError) as exc:
        assert option in str(exc) and ADD in str(exc), exc
        return
    assert (option, IDS[ODD.index(value)]) in CALL_ACCEPTS, f"add.s().set({option}={value!r}) was accepted"


def test_countdown_nan_is_not_sent_to_run_now(r):
    """It compared false with 0, so the message ran at once (break 6)."""
    for value in (float("nan"), float("inf"), 1e300):
        with pytest.raises(ValueError, match=f"{ADD}: countdown must be a number of seconds"):
            tasks.add.apply_async((1, 2), countdown=value)
    with pytest.raises(ValueError, match=f"{ADD}: expires must be"):
        tasks.add.apply_async((1, 2), expires=float("nan"))
    with pytest.raises(ValueError, match="unique_for must be a positive number of seconds"):
        tasks.add.apply_async((1, 2), unique_for=float("nan"))
    assert r.dbsize() == 0


def test_time_limit_inf_is_refused_at_the_door(r):
    """Break 1: it wedged the worker that took it."""
    for option in ("time_limit", "soft_time_limit"):
        for value in (float("inf"), float("nan"), 1e300):
            with pytest.raises(ValueError, match=f"{ADD}: {option} must be a positive number of seconds .*up to "
                                                 r"315360000 \(ten years\)"):
                tasks.add.apply_async((1, 2), **{option: value})
    assert r.dbsize() == 0


def test_the_largest_values_are_accepted(r):
    ten_years = 10 * 365 * 86400
    tasks.add.apply_async((1, 2), countdown=ten_years, expires=ten_years, time_limit=ten_years, priority=9)
    assert engine_app.current().broker.scheduled.count() == 1


# -- @task(...): task_options.TASK_OPTIONS ------------------------------------------------------------

def probe():
    return None


#: (option, value) @task accepts, and what it means (docs/tasks.md).
TASK_ACCEPTS = {
    ("expires", "-0.0"): "expired as soon as it is sent",
    ("default_retry_delay", "-0.0"): "retried at once",
    ("retry_backoff", "-0.0"): "no backoff (0 is False, as in Celery)",
    ("rate_limit", "'5'"): "5 a second (a bare number is per second)",
    ("queue", "'5'"): "the queue named 5",
    ("name", "'5'"): "the task named 5",
}


@pytest.mark.parametrize("value", ODD, ids=IDS)
@pytest.mark.parametrize("option", sorted(TASK_OPTIONS))
def test_task_refuses_an_odd_number_naming_the_option_and_the_task(option, value):
    name = f"tests.numbers.{option}"
    options = {"name": name, option: value}
    if option == "rate_limit_key":
        options["rate_limit"] = "1/s"
    try:
        declared = task(**options)(probe)
    except (TypeError, ConfigurationError) as exc:
        named = "task name" if option == "name" else option
        assert named in str(exc) and (name in str(exc) or "tests.django.test_numbers.probe" in str(exc)), exc
        return
    registry.unregister(declared.name)
    assert (option, IDS[ODD.index(value)]) in TASK_ACCEPTS, f"@task({option}={value!r}) was accepted: refuse it, " \
                                                            "or document what it means"


def test_rate_limit_nan_is_refused_when_the_task_is_declared():
    """Break 2: it reached lua/rate.lua as "nan", which failed on every try and stalled the queue."""
    for rate in (float("nan"), float("inf"), 1e300, 1e-300, "0/s", "99999999999999999999/s"):
        with pytest.raises(ConfigurationError, match="tests.numbers.rate: rate_limit: rate .* must allow more than "
                                                     "0 runs, at most 1000000 a second"):
            task(name="tests.numbers.rate", rate_limit=rate)(probe)
    with override_settings(JOBS={"RATE_LIMITS": {"partner.*": float("nan")}}):
        with pytest.raises(ConfigurationError, match=r"JOBS\['RATE_LIMITS'\]\['partner.\*'\]: rate nan"):
            engine_app.current()


# -- JOBS: every key (conf.KNOWN), and every numeric Config field in number_settings.NUMBERS ---------------

#: (key, value) JOBS accepts, and what it means (docs/settings.md).
SETTINGS_ACCEPT = {
    ("UNKNOWN_TASK_GRACE", "-0.0"): 0.0, ("ERROR_EMAIL_INTERVAL", "-0.0"): 0.0,
    ("WORKER_SHUTDOWN_TIMEOUT", "-0.0"): 0.0,
    ("KEY_PREFIX", "'5'"): "5", ("DEFAULT_QUEUE", "'5'"): "5",
}


def test_every_numeric_setting_is_in_the_table_of_numbers():
    numeric = {f.name for f in dataclasses.fields(Config)
               if ("int" in str(f.type) or "float" in str(f.type)) and not str(f.type).startswith("dict")}
    assert numeric == set(NUMBERS)


@pytest.mark.parametrize("value", ODD, ids=IDS)
@pytest.mark.parametrize("key", conf.KNOWN)
def test_a_setting_refuses_an_odd_number_naming_the_key(key, value):
    with override_settings(JOBS={key: value}):
        try:
            config = engine_app.current().config
        except ConfigurationError as exc:
            assert key in str(exc), exc
            return
        expected = SETTINGS_ACCEPT.get((key, IDS[ODD.index(value)]))
        assert expected is not None, f"JOBS[{key!r}] = {value!r} was accepted: refuse it, or document what it means"
        actual = getattr(config, key.lower())
        assert actual == expected and (not isinstance(actual, float) or math.copysign(1, actual) > 0)


def test_time_limit_inf_in_settings_is_refused():
    with override_settings(JOBS={"TIME_LIMIT": float("inf")}):
        with pytest.raises(ConfigurationError, match=r"JOBS\['TIME_LIMIT'\] must be None \(no limit\) or a positive "
                                                     r"number of seconds \(or a timedelta\) up to 315360000"):
            engine_app.current()


def test_numbers_inside_beat_schedule_are_checked_with_the_settings():
    entry = {"task": ADD, "schedule": float("inf")}
    with override_settings(JOBS={"BEAT_SCHEDULE": {"every": entry}}):
        with pytest.raises(ConfigurationError, match=r"JOBS\['BEAT_SCHEDULE'\]\['every'\]\['schedule'\] must be"):
            engine_app.current()
    entry = {"task": ADD, "schedule": 60, "options": {"priority": 9.0}}
    with override_settings(JOBS={"BEAT_SCHEDULE": {"every": entry}}):
        with pytest.raises(ConfigurationError, match=r"\['options'\]\['priority'\] must be an int from 0 to 9"):
            engine_app.current()


# -- management commands: every flag with a type, of runworker, runbeat and jobs -------------------

def _typed_flags():
    """(command, flag, its type) of every flag that parses a value, subcommands' included."""
    found = []
    for command in ("runworker", "runbeat", "jobs"):
        parsers = [load_command_class("jobs", command).create_parser("manage.py", command)]
        while parsers:
            parser = parsers.pop()
            for action in parser._actions:
                if isinstance(action, argparse._SubParsersAction):
                    parsers.extend(action.choices.values())
                elif action.type is not None and action.option_strings and not action.choices:  # (--verbosity)
                    found.append((command, action.option_strings[-1], action.type))
    return found


FLAGS = _typed_flags()
#: (flag, value) accepted, and what it means: a command line is text, so "5" is five.
FLAG_ACCEPTS = {("--days", "-0.0"): 0.0, ("--shutdown-timeout", "-0.0"): 0.0, ("--days", "5"): 5.0,
                ("--shutdown-timeout", "5"): 5.0, ("--concurrency", "5"): 5, ("--prefetch", "5"): 5,
                ("--async-concurrency", "5"): 5, ("--limit", "5"): 5, ("--batch", "5"): 5}


def test_every_numeric_flag_is_checked_by_the_rule_of_numbers():
    assert {flag for _, flag, _ in FLAGS} >= {"--concurrency", "--prefetch", "--async-concurrency",
                                              "--shutdown-timeout", "--days", "--batch", "--limit"}
    assert not [flag for _, flag, kind in FLAGS if kind in (int, float)], "a bare int or float type takes nan"


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "1e300", "-0.0", str(10**30), "5"])
@pytest.mark.parametrize("command, flag, parse", FLAGS, ids=[f"{c} {f}" for c, f, _ in FLAGS])
def test_a_flag_refuses_an_odd_number_saying_what_it_takes(command, flag, parse, text):
    try:
        value = parse(text)
    except argparse.ArgumentTypeError as exc:
        assert "must be" in str(exc) and repr(text) in str(exc), exc
        return
    assert FLAG_ACCEPTS.get((flag, text)) == value, f"{command} {flag} {text} was accepted as {value!r}"


@pytest.mark.parametrize("days", ["nan", "99999999999", "inf", "-1"])
def test_prune_days_is_a_command_error_not_a_traceback(days):
    with pytest.raises(CommandError, match=f"argument --days: must be a number of days from 0 to 3650, not '{days}'"):
        call_command("jobs", "prune", "--days", days)


# -- django.tasks: .using(priority=...) and the jobs options its @task takes -----------------------

if getattr(settings, "TASKS_API", ""):
    from tests.djangotasks import tasks as django_tasks
else:  # Django 5.2 without the backport
    django_tasks = None
needs_django_tasks = pytest.mark.skipif(django_tasks is None, reason="no django.tasks here")


def _django_api():
    from jobs.backend import InvalidTask, JobsTask
    return InvalidTask, JobsTask


#: Priorities Django's own check accepts (a whole number from -100 to 100), and the band they run in.
USING_ACCEPTS = {"-0.0": 4}


@needs_django_tasks
@pytest.mark.parametrize("value", ODD, ids=IDS)
def test_using_priority_refuses_what_django_refuses_and_never_crashes(r, value):
    invalid_task, _ = _django_api()
    try:
        chosen = django_tasks.noop_task.using(priority=value)
    except invalid_task as exc:
        assert "priority must be a whole number between -100 and 100" in str(exc)
        return
    chosen.enqueue()
    assert _waiting(r)[0].get("p", 0) == USING_ACCEPTS[IDS[ODD.index(value)]]


@needs_django_tasks
def test_using_priority_takes_a_whole_float_as_django_does(r):
    """Break 6: Django accepts 50.0; its band was the float 7.0, which our check refused."""
    django_tasks.noop_task.using(priority=50.0).enqueue()
    django_tasks.noop_task.using(priority=100.0).enqueue()
    assert sorted(envelope.get("p", 0) for envelope in _waiting(r)) == [7, 9]


def django_probe():
    return None


@needs_django_tasks
@pytest.mark.parametrize("value", ODD, ids=IDS)
def test_django_task_options_refuse_an_odd_number_naming_the_option(value):
    invalid_task, jobs_task = _django_api()
    from jobs.backend import OPTIONS

    decorator = django_tasks.task
    numeric = [name for name in OPTIONS if "float" in str(jobs_task.__dataclass_fields__[name].type)
               or "int" in str(jobs_task.__dataclass_fields__[name].type)]
    assert {"time_limit", "soft_time_limit", "max_retries", "unique_for", "rate_limit"} <= set(numeric)
    for option in numeric:
        try:
            decorator(**{option: value})(django_probe)
        except (invalid_task, TypeError) as exc:
            assert option in str(exc), exc
            continue
        assert (option, IDS[ODD.index(value)]) in TASK_ACCEPTS, f"django.tasks @task({option}={value!r}) accepted"
