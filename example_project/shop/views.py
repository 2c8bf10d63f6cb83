"""One demo page, four buttons that enqueue tasks, and a JSON endpoint the page polls.

Each button is a POST that redirects back to the page, so reloading it never enqueues twice. When
Redis is down, jobs raises BrokerUnavailable after JOBS['ENQUEUE_TIMEOUT']; the page says so instead
of failing with a 500.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from decimal import Decimal

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from jobs.exceptions import BrokerUnavailable

from . import tasks
from .models import Order
from .recent import describe, parse_ids, recent, remember


def enqueues(view: Callable[[HttpRequest], None]) -> Callable[[HttpRequest], HttpResponse]:
    """A button's view: POST only, and a broker outage becomes a message on the page."""

    @require_POST
    @functools.wraps(view)
    def wrapper(request: HttpRequest) -> HttpResponse:
        try:
            view(request)
        except BrokerUnavailable as exc:
            messages.error(request, f"Nothing was enqueued: {exc}")
        return redirect("shop:index")

    return wrapper


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    entries = recent(request)
    try:
        entries = [{**entry, **describe(entry["id"])} for entry in entries]
    except BrokerUnavailable as exc:  # once, rather than once per task
        messages.error(request, str(exc))
    return render(request, "shop/index.html", {"entries": entries})


@require_GET
def status(request: HttpRequest) -> JsonResponse:
    ids = parse_ids(request.GET.get("ids", ""))
    try:
        return JsonResponse({task_id: describe(task_id) for task_id in ids})
    except BrokerUnavailable as exc:
        return JsonResponse({"error": str(exc)}, status=503)


@enqueues
def place_order(request: HttpRequest) -> None:
    # Outside a transaction (no ATOMIC_REQUESTS) the row is committed before the task is sent, so the
    # worker finds it. Inside one, send from transaction.on_commit() instead.
    n = Order.objects.count() + 1
    order = Order.objects.create(email=f"customer{n}@example.com",
                                 total=Decimal(random.randint(500, 20000)) / 100)
    result = tasks.send_order_email.delay(order.pk)
    Order.objects.filter(pk=order.pk).update(confirmation_task_id=result.id)
    remember(request, f"Email for order #{order.pk}", result)
    messages.success(request, f"Order #{order.pk} placed; its email is on the 'emails' queue.")


@enqueues
def report(request: HttpRequest) -> None:
    result = tasks.build_report.apply_async(args=(7,), countdown=5)
    remember(request, "Report of the last 7 days (starts in 5 s)", result)
    messages.success(request, "Report scheduled: PENDING for 5 s, then its progress bar while it runs.")


@enqueues
def add_numbers(request: HttpRequest) -> None:
    remember(request, "add(2, 3)", tasks.add.delay(2, 3))


@enqueues
def fail(request: HttpRequest) -> None:
    remember(request, "flaky(1)", tasks.flaky.delay(1))
