"""The tasks this browser enqueued, kept in its session, and their live status read from jobs."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from jobs import AsyncResult

SESSION_KEY = "jobs_demo_tasks"
KEEP = 20
RESULT_CHARS = 200
_TASK_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,200}$")


def remember(request: HttpRequest, label: str, result: AsyncResult) -> None:
    entry = {"id": result.id, "label": label, "at": timezone.now().isoformat(timespec="seconds")}
    request.session[SESSION_KEY] = [entry, *request.session.get(SESSION_KEY, [])][:KEEP]


def recent(request: HttpRequest) -> list[dict[str, str]]:
    return list(request.session.get(SESSION_KEY, []))


def parse_ids(raw: str) -> list[str]:
    """Only well-formed ids, and no more than the page can show: the endpoint is public."""
    return [i for i in raw.split(",") if _TASK_ID.match(i)][:KEEP]


def describe(task_id: str) -> dict[str, Any]:
    """Status first: while a task is unfinished, its result and date are not worth a second read."""
    result = AsyncResult(task_id)
    status = result.status
    if not result.ready():
        return {"status": status, "result": None, "done_at": None}
    value = result.result
    text = repr(value)
    if len(text) > RESULT_CHARS:
        text = text[: RESULT_CHARS - 1] + "…"
    done = result.date_done
    done_at = dt.datetime.fromtimestamp(done, dt.timezone.utc).isoformat(timespec="seconds") if done else None
    return {"status": status, "result": text, "done_at": done_at}
