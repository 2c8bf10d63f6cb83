"""The tasks this browser enqueued, kept in its session, and their live status read from jobs."""

from __future__ import annotations

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
    """Status first: while a task is unfinished, its result and date are not worth a second read,
    but its progress is (a task that calls self.progress() is in state PROGRESS, its meta in .info)."""
    result = AsyncResult(task_id)
    status = result.status
    if not result.ready():
        info = result.info if status == "PROGRESS" else None
        progress = ({"percent": info.get("percent") or 0, "message": str(info.get("message", ""))[:RESULT_CHARS]}
                    if isinstance(info, dict) else None)
        return {"status": status, "result": None, "done_at": None, "progress": progress}
    value = result.result
    text = repr(value)
    if len(text) > RESULT_CHARS:
        text = text[: RESULT_CHARS - 1] + "…"
    done = result.date_done
    return {"status": status, "result": text, "done_at": done.isoformat(timespec="seconds") if done else None,
            "progress": None}
