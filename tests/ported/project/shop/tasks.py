import time

from django.contrib.auth import get_user_model

from jobs import get_task_logger, shared_task
from jobs.exceptions import SoftTimeLimitExceeded

from .ledger import ledger, note

logger = get_task_logger(__name__)


class GatewayDown(Exception):
    """The payment gateway did not answer; worth another try."""


class StockApiError(Exception):
    """The warehouse's API failed."""


@shared_task
def add(x, y):
    return x + y


@shared_task
def double(x):
    return 2 * x


@shared_task
def total(numbers):
    return sum(numbers)


@shared_task(bind=True, autoretry_for=(GatewayDown,), retry_backoff=True, max_retries=3, rate_limit="20/s",
             time_limit=30, soft_time_limit=20, acks_late=True)
def charge(self, order_id, amount_cents):
    if ledger().decr("gateway:outages") >= 0:
        raise GatewayDown(f"no answer for order {order_id}")
    logger.info("charged order %s on try %s", order_id, self.request.retries + 1)
    return {"order": order_id, "amount_cents": amount_cents, "retries": self.request.retries}


@shared_task
def on_charged(receipt):
    note("charged", receipt["order"])


@shared_task
def on_charge_failed(request, exc, traceback):
    note("charge-failed", f"{request.id} {exc!r}")


@shared_task(bind=True, max_retries=2)
def sync_stock(self, sku):
    try:
        if ledger().decr(f"stock:outages:{sku}") >= 0:
            raise StockApiError(f"warehouse did not answer for {sku}")
    except StockApiError as exc:
        raise self.retry(exc=exc, countdown=0.5)  # noqa: B904  (Celery's idiom: retry() raises Retry)
    return {"sku": sku, "retries": self.request.retries}


@shared_task
def send_receipt(user_id):
    user = get_user_model().objects.get(pk=user_id)
    note("receipts", user.email)
    return user.email


@shared_task
def send_welcome(user_id):
    user = get_user_model().objects.get(pk=user_id)
    note("welcomes", user.email)
    return user.email


@shared_task
def build_report(day):
    return {"day": day, "orders": len(day)}


@shared_task
def summarise(reports):
    return {"days": len(reports), "orders": sum(r["orders"] for r in reports)}


@shared_task
def fulfil(order_id):
    note("fulfilled", order_id)


@shared_task(soft_time_limit=1, time_limit=10)
def export_catalogue(rows):
    done = 0
    try:
        for _ in range(rows):
            time.sleep(0.05)
            done += 1
    except SoftTimeLimitExceeded:
        return {"exported": done, "complete": False}
    return {"exported": done, "complete": True}


@shared_task
def heartbeat(source):
    note(f"heartbeat:{source}", "tick")


@shared_task
def nightly_cleanup():
    return "cleaned"
