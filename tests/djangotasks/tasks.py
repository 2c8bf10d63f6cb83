"""django.tasks tasks (Django 6; the django-tasks backport on 5.2) for the contract suite
(tests/acceptance/test_django_tasks.py): the cases of Django's own tests/tasks, plus jobs' options."""

import inspect
import os
import time

import redis

try:
    from django.tasks import TaskContext, task
except ImportError:  # Django 5.2: the backport
    from django_tasks import TaskContext, task


def _redis() -> redis.Redis:
    return redis.Redis.from_url(os.environ["JOBS_BROKER_URL"])


@task()
def noop_task(*args, **kwargs):
    return None


@task
def noop_task_from_bare_decorator(*args, **kwargs):
    return None


@task()
async def noop_task_async(*args, **kwargs):
    return None


@task()
def calculate_meaning_of_life():
    return 42


@task()
def failing_task_value_error():
    raise ValueError("This Task failed due to ValueError")


@task()
def failing_task_system_exit():
    raise SystemExit("This Task failed due to SystemExit")


@task()
def failing_task_keyboard_interrupt():
    raise KeyboardInterrupt("This Task failed due to KeyboardInterrupt")


@task()
def complex_exception():
    raise ValueError(ValueError("This task failed"))


@task()
def complex_return_value():
    return lambda: True  # neither JSON nor anything else a result can carry


@task(takes_context=True)
def get_task_id(context):
    return context.task_result.id


@task(takes_context=True)
def test_context(context, attempt):
    assert isinstance(context, TaskContext)
    assert context.attempt == attempt


@task(queue_name="emails", priority=50)
def send_welcome(user_id):
    return {"sent": user_id}


#: Django 6.1 (and the backport) pass @task's other keywords to the backend's task class; 6.0 does not.
OPTIONS_PASS = "kwargs" in inspect.signature(task).parameters

if OPTIONS_PASS:
    @task(takes_context=True, autoretry_for=(ConnectionError,), max_retries=3, retry_backoff=False,
          default_retry_delay=0.1, retry_jitter=False)
    def flaky(context, fails):
        """Fails `fails` times with ConnectionError (retried by jobs), then returns its attempt number."""
        if context.attempt <= fails:
            raise ConnectionError(f"attempt {context.attempt} failed")
        return context.attempt

    @task(time_limit=1, soft_time_limit=0.5)
    def too_slow():
        time.sleep(30)


@task(takes_context=True)
def crash_once(context, key):
    """Blocks on its first run (the test kills that worker with kill -9), returns on the next."""
    _redis().rpush(f"started:{key}", context.attempt)
    if context.attempt == 1:
        time.sleep(60)
    return context.attempt


@task(takes_context=True)
def reports_how_called(context):
    """What the worker's context says the call was (.using(): queue_name, priority, backend, run_after)."""
    called = context.task_result.task
    return [called.queue_name, called.priority, called.backend, called.run_after and called.run_after.isoformat()]


@task(takes_context=True)
def reports_progress(context):
    return context.task_result.worker_ids
