"""Django signals for the life of tasks and workers, named and shaped as in Celery.

    from django.dispatch import receiver
    from jobs.signals import task_failure

    @receiver(task_failure)
    def alert(sender, task_id, exception, **kwargs): ...

`sender` is the task (for task signals) or the worker's hostname (worker_ready, worker_shutdown).
Receivers run in the worker process that runs the task. A receiver that raises is logged with its
traceback and changes nothing else: the result is stored, the message acknowledged, the worker alive.
"""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import Signal

logger = logging.getLogger("jobs.signals")

#: sender=task, request
task_received = Signal()
#: sender=task, task_id, task, args, kwargs, request
task_prerun = Signal()
#: sender=task, task_id, task, args, kwargs, retval, state, request
task_postrun = Signal()
#: sender=task, result, task_id, request
task_success = Signal()
#: sender=task, task_id, exception, args, kwargs, traceback, einfo (traceback text), request
task_failure = Signal()
#: sender=task, request, reason (the exception), einfo (traceback text), eta (unix time of the next run)
task_retry = Signal()
#: sender=task name, task_id, reason, terminated, expired
task_revoked = Signal()
#: sender=hostname
worker_ready = Signal()
worker_shutdown = Signal()
#: sender=None; in each prefork child as it starts (Celery's name): where a thread-using client
#: (a tracer's BatchSpanProcessor, a metrics exporter) is set up, after the fork
worker_process_init = Signal()


def _send(signal: Signal, sender: Any, **kwargs: Any) -> None:
    if not signal.receivers:  # the common case, on the path of every task: costs nothing
        return
    for receiver, response in signal.send_robust(sender, **kwargs):
        if isinstance(response, Exception):
            logger.error("receiver %r of a jobs signal raised; nothing else is affected", receiver,
                         exc_info=(type(response), response, response.__traceback__))


# The engine's events, forwarded to these signals. The forwarders of every task's events look for
# receivers before they build the signal's arguments: they run for every task, and most sites
# connect none.

def _received(request: Any) -> None:
    if task_received.receivers:
        _send(task_received, request.task, request=request)


def _prerun(task: Any, request: Any) -> None:
    if task_prerun.receivers:
        _send(task_prerun, task, task_id=request.id, task=task, args=request.args, kwargs=request.kwargs,
              request=request)


def _postrun(task: Any, request: Any, status: str, result: Any) -> None:
    if task_postrun.receivers:
        _send(task_postrun, task, task_id=request.id, task=task, args=request.args, kwargs=request.kwargs,
              retval=result, state=status, request=request)


def _success(task: Any, request: Any, result: Any) -> None:
    if task_success.receivers:
        _send(task_success, task, result=result, task_id=request.id, request=request)


def _failure(task: Any, request: Any, exception: BaseException, traceback: str) -> None:
    _send(task_failure, task, task_id=request.id, exception=exception, args=request.args,
          kwargs=request.kwargs, traceback=traceback, einfo=traceback, request=request)


def _retry(task: Any, request: Any, exception: BaseException, traceback: str, eta: float) -> None:
    _send(task_retry, task, request=request, reason=exception, einfo=traceback, eta=eta)


def _revoked(task_id: str, task_name: str, reason: str, terminated: bool) -> None:
    _send(task_revoked, task_name, task_id=task_id, reason=reason, terminated=terminated,
          expired=reason == "expired")


def _ready(hostname: str) -> None:
    _send(worker_ready, hostname)


def _shutdown(hostname: str) -> None:
    _send(worker_shutdown, hostname)


def _child() -> None:
    _send(worker_process_init, None)


def connect_to(hooks: Any) -> None:
    """Forward the engine's events to these signals (done once, in JobsConfig.ready())."""
    for event, listener in (("task_received", _received), ("task_prerun", _prerun), ("task_postrun", _postrun),
                            ("task_success", _success), ("task_failure", _failure), ("task_retry", _retry),
                            ("task_revoked", _revoked), ("worker_ready", _ready), ("worker_shutdown", _shutdown),
                            ("child_started", _child)):
        hooks.connect(event, listener)
