"""Mistakes a type checker must find in calls of typed tasks (tests/test_typing.py): each line that
ends in `# error: <code>` must get exactly that mypy error, and no other line any. Never run."""

from __future__ import annotations

from jobs import task


@task
def build(account: int, title: str = "") -> int:
    return account


@task(queue="emails")
def send_email(to: str, *, subject: str) -> bool:
    return bool(to)


@task(bind=True)
def fetch(self: object, url: str) -> bytes:
    return url.encode()


@task
async def ping(host: str) -> float:
    return 0.0


def mistakes() -> None:
    build.delay("1")  # error: arg-type
    build.delay(1, 2)  # error: arg-type
    build.delay()  # error: call-arg
    build.delay(1, "x", "extra")  # error: call-arg
    build.delay(1, titel="x")  # error: call-arg
    send_email.delay("a@example.com")  # error: call-arg
    send_email.delay("a@example.com", "hi")  # error: call-arg
    fetch.delay(b"https://example.com")  # error: arg-type
    ping.delay(3)  # error: arg-type
    build.si("1")  # error: arg-type
    name: str = build.delay(1).get()  # error: assignment
    flag: int = ping.delay("h").get().hex()  # error: assignment
    build(account="1")  # error: arg-type
    print(name, flag)
