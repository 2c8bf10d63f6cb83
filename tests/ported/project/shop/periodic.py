"""Periodic tasks made in code, as a data migration or a management command would."""
import json
from zoneinfo import ZoneInfo

from jobs.models import CrontabSchedule, IntervalSchedule, PeriodicTask


def install():
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(name="stock pulse", interval=every_second, task="shop.tasks.heartbeat",
                                args=json.dumps(["database"]))
    morning, _ = CrontabSchedule.objects.get_or_create(minute="0", hour="4", timezone=ZoneInfo("Europe/Moscow"))
    PeriodicTask.objects.create(name="morning stock sync", crontab=morning, task="shop.tasks.sync_stock",
                                kwargs=json.dumps({"sku": "ALL"}))
