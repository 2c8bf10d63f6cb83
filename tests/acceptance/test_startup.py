"""What a worker imports before its first task is time every start pays (docs/performance.md, time to the
first task): a real `runworker` (prefork, the defaults) runs one task, which returns what its consumer has
imported by then. None of the modules below may be among them, so that a later change cannot quietly
bring one back onto every worker's start."""

import os

from jobs import send_task

#: Module (and its submodules) -> why a worker does not need it before its first task.
NOT_BEFORE_THE_FIRST_TASK = {
    "jobs.engine.ops": "the console's views of Redis (monitor, metrics, counters); the Redis setup check at "
                       "start reads through the broker",
    "jobs.console.pages": "what the console's pages read: imported by a page's view",
    "jobs.engine.beat": "beat's schedules: the models and the admin load them when a schedule is used",
    "jobs.stores": "the history's database writer: the recorder's own process imports it",
    "ctypes.util": "find_library runs `ldconfig -p` in each new consumer; libc's prctl is reached without it",
}
#: In a project without django.contrib.admin, Django imports none of these either.
NOR_WITHOUT_THE_ADMIN = {
    "jobs.admin": "the admin's pages",
    "jobs.console": "the console",
}


def _first_task_modules(start_worker, env):
    start_worker("-P", "prefork", "-c", "1", env=env)
    loaded = send_task("startup.modules").get(timeout=30)
    assert "jobs.engine.worker.consumer" in loaded and "tests.startupapp.tasks" in loaded  # it is that worker's
    return loaded


def _found(loaded, modules):
    return {module: why for module, why in modules.items()
            if any(name == module or name.startswith(module + ".") for name in loaded)}


def test_a_lean_worker_imports_nothing_its_first_task_does_not_need(start_worker):
    """tests/startup_settings.py: jobs and one app of tasks, no admin."""
    loaded = _first_task_modules(start_worker, {"DJANGO_SETTINGS_MODULE": "tests.startup_settings"})
    assert _found(loaded, {**NOT_BEFORE_THE_FIRST_TASK, **NOR_WITHOUT_THE_ADMIN}) == {}


def test_with_the_admin_a_worker_imports_the_console_but_not_its_reads(start_worker):
    """tests/settings.py has django.contrib.admin, which imports jobs.admin and the console's views into
    every process: what those pages read stays out until a page is shown."""
    loaded = _first_task_modules(start_worker, {"JOBS_TEST_EXTRA_APPS": "tests.startupapp"})
    assert "jobs.admin" in loaded  # the admin's registrations, as Django imports them
    # This project's database may be PostgreSQL (JOBS_TEST_DATABASE_URL), whose driver finds libpq
    # through ctypes.util as Django connects: the driver's, not ours (the lean project above pins ours).
    ours = {m: why for m, why in NOT_BEFORE_THE_FIRST_TASK.items()
            if m != "ctypes.util" or not os.environ.get("JOBS_TEST_DATABASE_URL")}
    assert _found(loaded, ours) == {}
