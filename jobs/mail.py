"""Error emails: mail_admins on a task's final failure, at most one mail per task name per
JOBS["ERROR_EMAIL_INTERVAL"], with the number of failures it stands for.

The throttle lives in Redis, so it holds across all worker processes and hosts: a task failing a
thousand times a minute sends one mail per interval, not a thousand. Retries are not failures; only
the final failure (after the last retry) counts.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

from django.core.mail import mail_admins

from .engine.api import app as engine_app

logger = logging.getLogger("jobs.mail")

ARGS_MAX = 1000


def on_failure(task: Any, request: Any, exception: BaseException, traceback: str) -> None:
    app = engine_app.current()
    config = app.config
    if not config.error_emails:
        return
    failures = app.broker.results.mail_throttle(task.name, int(config.error_email_interval * 1000))
    if not failures:
        return  # a mail for this task went out less than an interval ago; this one is counted
    # As the results and the history store them: JOBS["REDACT"] applied (redact.py).
    arguments = "encrypted" if task.encrypt else app.redactor.text(task.fn, request.args, request.kwargs, task.bind)
    if len(arguments) > ARGS_MAX:
        arguments = arguments[:ARGS_MAX] + " ...(cut)"
    summary = (f"{failures} failures of this task since the last mail" if failures > 1
               else "the first failure of this task since the last mail")
    body = (f"Task: {task.name}\nId: {request.id}\nArguments: {arguments}\n"
            f"Host: {request.hostname or socket.gethostname()}\nRetries: {request.retries}\n"
            f"Count: {summary} (at most one mail per {config.error_email_interval:g} s)\n\n{traceback}")
    subject = f"Task {task.name} failed: {type(exception).__name__}: {exception}"[:200]
    mail_admins(subject, body)
    logger.info("error email sent for %s (%d failure(s))", task.name, failures)
