"""The outbox: messages sent inside a database transaction, written in it (JOBS["OUTBOX"]), kept
until they are in Redis. Why a table: a message must reach Redis if and only if the caller's
transaction commits, and only a row of that same transaction commits or rolls back with it.
Written and read by stores/outbox_db.py; a row lives from the caller's COMMIT to the send right
after it (milliseconds), or until a relay sends it (the process died first, Redis was away).
"""

from __future__ import annotations

from django.db import models


class OutboxMessage(models.Model):
    """One message, as the producer would have sent it (engine wire/outgoing.py: Outgoing)."""

    message_id = models.CharField("task id", max_length=255, db_index=True)
    task = models.CharField(max_length=255)
    queue = models.CharField(max_length=200)
    #: 9 - priority, as the queue's sorted set orders it.
    score = models.SmallIntegerField(default=9)
    #: The message's bytes as they are sent (its header and envelope: wire/message.py).
    wire = models.TextField()
    #: When it may run and when it expires, as the enqueue script takes them ('', '+ms', 'ms').
    due = models.CharField(max_length=32, blank=True)
    expiry = models.CharField(max_length=32, blank=True)
    delayed = models.BooleanField(default=False)
    #: A unique task's lock key and its life (ms); blank: not unique.
    unique_key = models.CharField(max_length=512, blank=True)
    unique_ms = models.BigIntegerField(default=0)
    #: JSON: [[list key, entry], ...] pushed with it (the django.tasks backend's READY record).
    records = models.TextField(blank=True)
    #: When it was written (unix time): the relay sweeps rows older than a few seconds.
    created = models.FloatField(db_index=True)
    #: Why it cannot be sent: Redis refused it, and its burial in the dead letters too (the usual
    #: refused message goes there, and its row away). Set aside, never sent again on its own.
    dead = models.BooleanField(default=False)
    reason = models.TextField(blank=True)

    class Meta:
        verbose_name = "outbox message"
        indexes = [models.Index(fields=["dead", "created"], name="jobs_outbox_sweep")]

    def __str__(self) -> str:
        return f"{self.task}[{self.message_id}]"
