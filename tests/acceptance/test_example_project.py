"""The example project, end to end: its page enqueues, a real worker started with its settings runs
the tasks, the email lands on disk and the status endpoint reports the outcome.

The test session runs under tests.settings, so the example project is driven from a subprocess with
its own settings. It and the worker share a temporary SQLite file and mail folder (EXAMPLE_DB_PATH,
EXAMPLE_EMAIL_DIR), and the private Redis through JOBS_BROKER_URL, which subprocesses inherit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

SETTINGS = "example_project.settings"

#: Runs in a subprocess under the example settings; prints what it saw as one JSON line.
DRIVE_THE_PAGE = r"""
import json
import time

import django

django.setup()

from django.test import Client

from example_project.shop.models import Order
from example_project.shop.tasks import build_report
from jobs import AsyncResult

client = Client()
seen = {"index": client.get("/").status_code}
for path in ("/order/", "/add/", "/fail/"):
    seen[path] = client.post(path).status_code
entries = client.session["jobs_demo_tasks"]
seen["labels"] = [e["label"] for e in entries]
seen["values"] = [repr(AsyncResult(e["id"]).get(timeout=20, propagate=False)) for e in entries]
ids = ",".join(e["id"] for e in entries)
seen["status"] = [client.get("/status/", {"ids": ids}).json()[e["id"]] for e in entries]
order = Order.objects.get()
seen["order"] = {"email": order.email, "total": str(order.total), "task_id": order.confirmation_task_id,
                 "id": entries[-1]["id"]}
page = client.get("/").content.decode()
seen["page_shows"] = [e["id"] in page for e in entries]

# The report's progress, as the page reads it: it polls the status endpoint every second.
report = build_report.delay(3)  # the page's button waits 5 s first
deadline = time.monotonic() + 20
progress = []
while not AsyncResult(report.id).ready() and time.monotonic() < deadline:
    state = client.get("/status/", {"ids": report.id}).json()[report.id]
    if state["progress"] and state["progress"] not in progress:
        progress.append(state["progress"])
    time.sleep(0.05)  # the page's polling, faster
seen["progress"] = progress
seen["report"] = report.get(timeout=20)

# The history the worker recorded, as the admin lists it (written about a second after each task).
from jobs.models import TaskResult

wanted = {e["id"] for e in entries} | {report.id}
# Each row is written once at its start (STARTED) and again at its end: wait for the final ones.
final = ("SUCCESS", "FAILURE", "REVOKED")
while (TaskResult.objects.filter(task_id__in=wanted, status__in=final).count() < len(wanted)
       and time.monotonic() < deadline + 20):
    time.sleep(0.1)  # the recorder writes in batches, twice a second at most
seen["history"] = {row.task_id: row.status for row in TaskResult.objects.filter(task_id__in=wanted)}
print(json.dumps(seen))
"""


def test_the_demo_page_runs_its_tasks_on_a_worker(start_worker, tmp_path: Path) -> None:
    mail = tmp_path / "mail"
    env = {"DJANGO_SETTINGS_MODULE": SETTINGS, "EXAMPLE_DB_PATH": str(tmp_path / "db.sqlite3"),
           "EXAMPLE_EMAIL_DIR": str(mail)}
    worker = start_worker("-Q", "emails,default", "-c", "2", "-l", "debug", env=env, ready=False)
    full_env = {**os.environ, **env}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=full_env,
                   check=True, timeout=60)
    worker.wait_for(r"ready\.$")

    done = subprocess.run([sys.executable, "-c", DRIVE_THE_PAGE], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{done.stderr}\nworker output:\n{worker.output}"
    seen = json.loads(done.stdout.splitlines()[-1])

    assert seen["index"] == 200 and seen["/order/"] == seen["/add/"] == seen["/fail/"] == 302
    assert seen["labels"] == ["flaky(1)", "add(2, 3)", "Email for order #1"]  # newest first
    assert seen["values"][:2] == ["ValueError('flaky(1) failed, as it always does')", "5"]
    assert seen["values"][2] == repr("customer1@example.com")
    failed, added, emailed = seen["status"]
    assert failed["status"] == "FAILURE" and "ValueError" in failed["result"]
    assert added == {"status": "SUCCESS", "result": "5", "done_at": added["done_at"], "progress": None}
    assert added["done_at"]
    assert emailed["status"] == "SUCCESS" and emailed["result"] == repr("customer1@example.com")
    assert seen["order"]["task_id"] == seen["order"]["id"]
    assert seen["page_shows"] == [True, True, True]
    report = seen["report"]
    assert report["orders"] == 1 and report["revenue"] == seen["order"]["total"]
    assert seen["progress"] and seen["progress"][0]["message"].startswith("counting")  # a live progress bar
    assert [p["percent"] for p in seen["progress"]] == sorted(p["percent"] for p in seen["progress"])
    assert sorted(seen["history"].values()) == ["FAILURE", "SUCCESS", "SUCCESS", "SUCCESS"]
    assert report["daily"][-1]["orders"] == 1

    [sent] = list(mail.iterdir())
    text = sent.read_text()
    assert "To: customer1@example.com" in text and "Subject: Your order #1" in text
    worker.wait_for(r"shop\.send_order_email.*succeeded")
