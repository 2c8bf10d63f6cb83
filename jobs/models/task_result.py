"""The task history: what happened to every task, one row each (TaskResult), written by the workers'
recorders (stores/history.py), read in the admin and the console; and the console's place in the admin.
"""

from __future__ import annotations

from django.db import models


class TaskResult(models.Model):
    """What happened to one task, last: written by the workers' recorders, in batches (stores/history.py),
    read in the admin, pruned after JOBS["HISTORY_KEEP"]. Rows are upserted by task id and
    replaced only by a later stage of the same task (`stage`), so a retried task has one row that
    ends with its outcome."""

    task_id = models.CharField("task id", max_length=255, unique=True)
    name = models.CharField("task", max_length=255)
    status = models.CharField(max_length=64)
    #: JSON text, as it may be stored: JOBS["REDACT"] and STORED_ARGS_MAX applied (redact.py).
    args = models.TextField(null=True, blank=True)
    kwargs = models.TextField(null=True, blank=True)
    args_complete = models.BooleanField(
        "arguments complete", default=True,
        help_text="False: some arguments are stored redacted or described (REDACT, STORED_ARGS_MAX), so the task "
                  "cannot be run again from this row.")
    #: JSON text: the return value; for other states, an object saying what happened.
    result = models.TextField(null=True, blank=True)
    traceback = models.TextField(null=True, blank=True)
    queue = models.CharField(max_length=200, blank=True)
    worker = models.CharField(max_length=255, blank=True)
    retries = models.PositiveIntegerField(default=0)
    date_enqueued = models.DateTimeField("enqueued", null=True, blank=True)
    date_started = models.DateTimeField("started", null=True, blank=True)
    date_done = models.DateTimeField("done", null=True, blank=True)
    runtime = models.FloatField(null=True, blank=True, help_text="Seconds the last run took.")
    parent_id = models.CharField(
        "parent", max_length=255, null=True, blank=True,
        help_text="What sent it: the task it was called from, the chain step before it, its chord, or the task "
                  "it runs again.")
    #: Orders the records of one task id (history.stage); a row is only replaced by a later one.
    stage = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        verbose_name = "task result"
        ordering = ["-date_done"]
        indexes = [
            models.Index(fields=["date_done"], name="jobs_result_done"),
            models.Index(fields=["status", "date_done"], name="jobs_result_status_done"),
            models.Index(fields=["name", "date_done"], name="jobs_result_name_done"),
            # Only rows that have a parent (most have none, and cost no index update for it).
            models.Index(fields=["parent_id"], name="jobs_result_parent", condition=models.Q(parent_id__isnull=False)),
        ]
        # Acting on a recorded task is a right apart from reading the history.
        permissions = [("rerun_taskresult", "Can run recorded tasks again"),
                       ("revoke_taskresult", "Can revoke recorded tasks")]

    def __str__(self) -> str:
        return f"{self.name}[{self.task_id}] {self.status}"


class Console(TaskResult):
    """No table of its own: the operations console (jobs/console) is an admin page, and this is what
    puts it in the admin's index ("Console" under Jobs) and carries its two rights: to look (view)
    and to act (operate: purge, pause, shut a worker down, revoke, requeue, run again, delete)."""

    class Meta:
        proxy = True
        verbose_name = "console"
        verbose_name_plural = "console"
        default_permissions = ("view",)
        permissions = [("operate_console", "Can act from the operations console")]
