"""What a worker imports before its first task is time every start pays (docs/performance.md, time to the
first task): a real `runworker` (prefork, the defaults) of a project as lean as one can be
(tests/startup_settings.py: jobs and one app of tasks) runs one task, which returns what its consumer has
imported by then. None of the modules below may be among them, so that a later change cannot quietly
bring one back onto every worker's start."""

from jobs import send_task

#: Module (and its submodules) -> why a worker does not need it before its first task.
NOT_BEFORE_THE_FIRST_TASK = {
    "jobs.admin": "the admin's pages: Django imports them for django.contrib.admin, which this project lacks",
    "jobs.console": "the console's views",
    "jobs.inspection": "the console's reads; the Redis setup check at start reads through the broker",
    "jobs.engine.ops": "the console's views of Redis (monitor, metrics, counters)",
    "jobs.engine.beat": "beat's schedules: the models load them when a schedule is used",
    "jobs.stores": "the history's database writer: the recorder's own process imports it",
    "ctypes.util": "find_library runs `ldconfig -p` in each new consumer; libc's prctl is reached without it",
}


def test_a_worker_imports_nothing_its_first_task_does_not_need(start_worker):
    start_worker("-P", "prefork", "-c", "1", env={"DJANGO_SETTINGS_MODULE": "tests.startup_settings"})
    loaded = send_task("startup.modules").get(timeout=30)
    assert "jobs.engine.worker.consumer" in loaded and "tests.startupapp.tasks" in loaded  # it is that worker's
    found = {module: why for module, why in NOT_BEFORE_THE_FIRST_TASK.items()
             if any(name == module or name.startswith(module + ".") for name in loaded)}
    assert found == {}
