"""The shop's background tasks. jobs imports this module by itself (every installed app's tasks.py),
in the web process to send them and in the worker to run them."""

from __future__ import annotations

import datetime as dt
import logging
import time
from decimal import Decimal
from typing import Any

from django.core.mail import send_mail
from django.db.models import Count, Sum
from django.utils import timezone

from jobs import task

from .models import Order

CENTS = Decimal("0.01")
logger = logging.getLogger("jobs.example")


@task(queue="emails", name="shop.send_order_email")
def send_order_email(order_id: int) -> str:
    """Takes the primary key, not the Order: the row is read when the email is sent, as it is then."""
    order = Order.objects.get(pk=order_id)
    send_mail(
        subject=f"Your order #{order.pk}",
        message=f"Thank you for your order of {order.total} EUR, placed {order.created:%Y-%m-%d %H:%M} UTC.",
        from_email=None,
        recipient_list=[order.email],
    )
    return order.email


@task(bind=True, track_started=True)
def build_report(self: Any, days: int) -> dict[str, Any]:
    """Slow on purpose, so the demo page shows it STARTED, then its progress day by day (a live
    progress bar: self.progress(), read in the page through AsyncResult.info)."""
    since = timezone.now() - dt.timedelta(days=days)
    orders = Order.objects.filter(created__gte=since)
    daily = []
    for offset in range(days):
        day = (since + dt.timedelta(days=offset + 1)).date()
        self.progress(offset, days, message=f"counting {day:%a %d %b}")
        daily.append({"day": day.isoformat(), "orders": orders.filter(created__date=day).count()})
        time.sleep(0.5)  # stands in for the expensive part of a real report
    self.progress(days, days, message="adding up")
    totals = orders.aggregate(count=Count("id"), revenue=Sum("total"))
    revenue = (totals["revenue"] or Decimal(0)).quantize(CENTS)  # SQLite sums in floating point
    return {"days": days, "orders": totals["count"], "revenue": str(revenue), "daily": daily}


@task(name="shop.count_recent_orders", ignore_result=True)
def count_recent_orders(minutes: int = 60) -> int:
    """Sent by beat every minute (JOBS["BEAT_SCHEDULE"] in settings.py); its log line shows the
    periodic run arriving in the worker."""
    since = timezone.now() - dt.timedelta(minutes=minutes)
    count = Order.objects.filter(created__gte=since).count()
    logger.info("shop: %d order(s) in the last %d minutes", count, minutes)
    return count


@task
def add(x: int, y: int) -> int:
    return x + y


@task
def flaky(n: int) -> None:
    """Always fails, so the demo page has a FAILURE (with its traceback) to show."""
    raise ValueError(f"flaky({n}) failed, as it always does")
