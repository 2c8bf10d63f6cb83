"""The outbox in the admin (JOBS["OUTBOX"]): what waits to be sent, and the rows set aside with their
reason (Redis refused the message and then its burial in the dead letters, engine/send/producer.py
send_kept: never sent again on their own). Read-only: rows are written by senders and forgotten once
in Redis; an operator may only send a set-aside row again (after fixing what refused it) or delete it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from ..models import OutboxMessage
from .address_checked import AddressChecked

SHOWN = ("message_id", "task", "queue", "written", "dead", "reason", "due", "expiry", "unique_key", "wire")


@admin.register(OutboxMessage)
class OutboxMessageAdmin(AddressChecked):
    list_display = ["message_id", "task", "queue", "written", "dead", "reason"]
    list_filter = ["dead", "task", "queue"]
    search_fields = ["=message_id", "task"]
    actions = ["send_again"]
    fields = SHOWN
    readonly_fields = SHOWN

    @admin.display(description="written", ordering="created")
    def written(self, row: OutboxMessage) -> dt.datetime:
        return dt.datetime.fromtimestamp(row.created, tz=dt.timezone.utc)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Send again (the relay's next sweep)", permissions=["delete"])
    def send_again(self, request: HttpRequest, queryset: QuerySet[OutboxMessage]) -> None:
        n = queryset.filter(dead=True).update(dead=False, reason="")
        self.message_user(request, f"{n} set-aside message(s) go back to the relay.", messages.SUCCESS)
