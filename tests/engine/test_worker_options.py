"""runworker's options (worker/spec.py): one default and one check each, the setting's."""

from __future__ import annotations

import math
import os

import pytest

from jobs.engine.errors import ConfigurationError
from jobs.engine.setup.config import Config
from jobs.engine.worker.spec import WorkerOptions


def _as_settings(options: WorkerOptions) -> tuple:
    return (options.queues, options.concurrency, options.pool, options.prefetch, options.shutdown_timeout,
            options.async_concurrency)


def test_no_flags_give_the_settings():
    config = Config()
    assert _as_settings(WorkerOptions.from_config(config)) == (
        [config.default_queue], os.cpu_count() or 1, config.worker_pool, config.worker_prefetch,
        config.worker_shutdown_timeout, config.worker_async_concurrency)
    changed = Config(default_queue="mail", worker_concurrency=3, worker_pool="threads", worker_prefetch=0,
                     worker_shutdown_timeout=5, worker_async_concurrency=1)
    assert _as_settings(WorkerOptions.from_config(changed)) == (["mail"], 3, "threads", 0, 5.0, 1)


def test_a_flag_wins_over_its_setting():
    options = WorkerOptions.from_config(Config(worker_prefetch=4), prefetch=0, concurrency=2, queues=["a", "b"],
                                        hostname="w1", healthcheck_file="/tmp/alive")
    assert (options.prefetch, options.concurrency, options.queues, options.hostname, options.healthcheck_file) == (
        0, 2, ["a", "b"], "w1", "/tmp/alive")


@pytest.mark.parametrize("flag, setting, value", [
    ("prefetch", "worker_prefetch", -1),
    ("prefetch", "worker_prefetch", 1.5),
    ("prefetch", "worker_prefetch", True),
    ("concurrency", "worker_concurrency", 0),
    ("async_concurrency", "worker_async_concurrency", 10**30),
    ("shutdown_timeout", "worker_shutdown_timeout", math.nan),
    ("shutdown_timeout", "worker_shutdown_timeout", -1),
    ("pool", "worker_pool", "gevent"),
])
def test_a_bad_flag_is_refused_as_the_bad_setting_is(flag, setting, value):
    with pytest.raises(ConfigurationError) as as_setting:
        Config(**{setting: value})
    with pytest.raises(ConfigurationError) as as_flag:
        WorkerOptions.from_config(Config(), **{flag: value})
    assert str(as_flag.value) == str(as_setting.value)


def test_a_bad_queue_and_async_tasks_without_prefork_are_refused():
    with pytest.raises(ConfigurationError, match="queue is 'a b'"):
        WorkerOptions.from_config(Config(), queues=["a b"])
    with pytest.raises(ConfigurationError, match="needs --pool prefork"):
        WorkerOptions.from_config(Config(worker_async_concurrency=4), pool="threads")
