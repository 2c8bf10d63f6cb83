"""Signal receivers that record what they saw in Redis; one of them raises on purpose."""

from django.dispatch import receiver

from jobs import signals


def _record(name, sender_name, task_id=""):
    from .tasks import evidence

    evidence().rpush("signals", f"{name}:{sender_name}:{task_id}")


@receiver(signals.task_prerun)
def prerun(sender, task_id, **kwargs):
    if sender.name.endswith("audited"):
        _record("prerun", sender.name, task_id)


@receiver(signals.task_postrun)
def postrun(sender, task_id, state, **kwargs):
    if sender.name.endswith("audited"):
        _record(f"postrun-{state}", sender.name, task_id)


@receiver(signals.task_success)
def success(sender, result, **kwargs):
    if sender.name.endswith("audited"):
        _record("success", sender.name)
        raise RuntimeError("a broken receiver")


@receiver(signals.task_failure)
def failure(sender, task_id, exception, **kwargs):
    if sender.name.endswith("audited"):
        _record(f"failure-{type(exception).__name__}", sender.name, task_id)


@receiver(signals.task_retry)
def retry(sender, reason, **kwargs):
    if sender.name.endswith("audited"):
        _record(f"retry-{reason}", sender.name)


@receiver(signals.task_revoked)
def revoked(sender, task_id, terminated, **kwargs):
    _record(f"revoked-{terminated}", sender, task_id)


@receiver(signals.worker_ready)
def ready(sender, **kwargs):
    _record("worker_ready", sender)


@receiver(signals.worker_shutdown)
def shutdown(sender, **kwargs):
    _record("worker_shutdown", sender)


@receiver(signals.worker_process_init)
def process_init(sender, **kwargs):
    import os

    from .tasks import evidence

    evidence().rpush("process_init", os.getpid())
