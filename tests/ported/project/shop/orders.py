"""What the views call."""
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from jobs import AsyncResult, chain, chord, group, send_task

from .tasks import (
    add,
    build_report,
    charge,
    double,
    fulfil,
    on_charge_failed,
    on_charged,
    send_receipt,
    send_welcome,
    summarise,
    total,
)


def register(email):
    with transaction.atomic():
        user = get_user_model().objects.create_user(username=email, email=email)
        transaction.on_commit(lambda: send_receipt.delay(user.pk))
        send_welcome.delay_on_commit(user.pk)
    return user


def checkout(order_id, amount_cents):
    return charge.apply_async((order_id, amount_cents), link=on_charged.s(), link_error=on_charge_failed.s())


def ship(order_id, express=False):
    # 9 runs first here (Celery on Redis: 0): a priority p becomes 9 - p.
    return fulfil.apply_async((order_id,), priority=9 if express else 0)


def status(task_id):
    result = AsyncResult(task_id)
    return result.status, result.result


def later(x, y):
    return [
        add.apply_async((x, y), countdown=1),
        add.apply_async((x, y), eta=timezone.now() + timedelta(seconds=1)),
    ]


def stale(x, y):
    return add.apply_async((x, y), countdown=2, expires=1)


def cancel(x, y, after=60):
    result = add.apply_async((x, y), countdown=after)
    AsyncResult(result.id).revoke()
    return result


def rerun_report(day):
    return build_report.apply_async((day,), queue="default")


def by_name(x, y):
    return send_task("shop.tasks.add", args=[x, y])


def pipeline(x):
    return chain(add.s(x, x), double.s(), double.s())()


def fan_out(n):
    return group(double.s(i) for i in range(n))()


def month_report(days):
    return chord(build_report.s(day) for day in days)(summarise.s())


def nested(x):
    return chain(add.s(x, x), group(double.s(), double.s()), total.s())()
