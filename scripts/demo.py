"""`make demo`: the example project's web server, worker and beat, with their logs in one terminal.

Set-up it does on its own: a Redis (the one at JOBS_BROKER_URL if it answers, else a private
redis-server / valkey-server on a free port), the example database (migrate), an admin user whose
password it prints, and a periodic task made as a user makes one in the admin (the settings bring
another). Then it runs the processes, each line prefixed with its name. Ctrl-C stops them in order:
web, worker and beat first (the worker finishes or hands back its tasks), Redis last.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jobs.devserver import RedisServer  # noqa: E402

COLORS = {"web": "\033[36m", "worker": "\033[33m", "beat": "\033[35m", "redis": "\033[32m"}
RESET = "\033[0m"


def say(text: str) -> None:
    print(f"\033[1m{text}{RESET}", flush=True)


def reachable(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2).ping())
    except (redis.RedisError, OSError, ValueError):
        return False


def free_port(preferred: int) -> int:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])


def manage(*args: str, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)


def admin_password(env: dict[str, str]) -> str:
    path = ROOT / "var" / "demo-admin-password"
    path.parent.mkdir(exist_ok=True)
    if not path.exists():
        path.write_text(secrets.token_urlsafe(9))
    password = path.read_text().strip()
    script = (
        "from django.contrib.auth.models import User\n"
        "u, _ = User.objects.get_or_create(username='admin', defaults={'is_staff': True, 'is_superuser': True})\n"
        f"u.is_staff = u.is_superuser = True; u.set_password({password!r}); u.save()\n"
    )
    manage("shell", "-v", "0", "-c", script, env=env)
    return password


# What a user would click together in the admin: a report every weekday morning, Berlin time. Made
# only if missing, so an edit made in the admin survives the next `make demo`.
MORNING_REPORT = """
from jobs.models import CrontabSchedule, PeriodicTask
if not PeriodicTask.objects.filter(name="morning sales report").exists():
    schedule, _ = CrontabSchedule.objects.get_or_create(minute="0", hour="8", day_of_week="mon-fri",
                                                        day_of_month="*", month_of_year="*",
                                                        timezone="Europe/Berlin")
    PeriodicTask.objects.create(name="morning sales report", task="example_project.shop.tasks.build_report",
                                args=[7], schedule=schedule,
                                description="The last week's orders, for the 08:00 meeting in Berlin.")
"""


def pump(name: str, stream) -> None:  # type: ignore[no-untyped-def]
    color = COLORS.get(name, "")
    for line in stream:
        sys.stdout.write(f"{color}{name:>6} |{RESET} {line}")
        sys.stdout.flush()


def main() -> int:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "example_project.settings", "PYTHONUNBUFFERED": "1"}
    server = None
    url = env.get("JOBS_BROKER_URL")
    if url and reachable(url):
        say(f"Using the Redis at JOBS_BROKER_URL={url}")
    else:
        if url:
            say(f"JOBS_BROKER_URL={url} does not answer; starting a private Redis instead")
        server = RedisServer(appendonly=True).start()  # as production should: see docs/workers.md
        url = env["JOBS_BROKER_URL"] = server.url
        say(f"Started a private {Path(server.binary).name} at {url} (files in {server.dir})")

    manage("migrate", "--noinput", "-v", "0", env=env)
    password = admin_password(env)
    manage("shell", "-v", "0", "-c", MORNING_REPORT, env=env)
    port = free_port(int(env.get("DEMO_PORT", "8000")))
    processes = {
        "web": [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        "worker": [sys.executable, "manage.py", "runworker", "-Q", "emails,default", "-c", "2", "-l", "debug"],
        "beat": [sys.executable, "manage.py", "runbeat"],
    }
    running: dict[str, subprocess.Popen[str]] = {}
    for name, cmd in processes.items():
        # Own session: Ctrl-C reaches only this script, which then stops everything in order.
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True)
        running[name] = proc
        threading.Thread(target=pump, args=(name, proc.stdout), daemon=True).start()

    say(f"\n  Demo page:  http://127.0.0.1:{port}/\n  Admin:      http://127.0.0.1:{port}/admin/  "
        f"(user admin, password {password})\n  Emails:     {ROOT / 'var' / 'sent_emails'}\n"
        f"  Console:    http://127.0.0.1:{port}/admin/jobs/console/  (queues, workers, running, failed, metrics)\n"
        f"  Periodic:   http://127.0.0.1:{port}/admin/jobs/periodictask/\n"
        "  Ctrl-C stops web, worker, beat and Redis.\n")
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            for name, proc in running.items():
                if proc.poll() is not None:
                    say(f"{name} exited with code {proc.returncode}; stopping the demo")
                    stop.set()
    finally:
        say("Stopping: web, worker and beat first (running tasks finish or go back to their queue), then Redis")
        for proc in running.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in running.values():
            try:
                proc.wait(40)
            except subprocess.TimeoutExpired:
                proc.kill()
        if server is not None:
            server.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
