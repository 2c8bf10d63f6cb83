"""Typed tasks as a user writes them: this file must pass `mypy --strict` with no error
(tests/test_typing.py). It is never run; only a type checker reads it."""

from __future__ import annotations

from dataclasses import dataclass

from jobs import AsyncResult, Task, chain, task


@dataclass
class Report:
    rows: int


@task
def build(account: int, title: str = "") -> Report:
    return Report(account)


@task(queue="emails", max_retries=3)
def send_email(to: str, *, subject: str) -> bool:
    return bool(to and subject)


@task(bind=True)
def fetch(self: Task[[str], bytes], url: str) -> bytes:
    return url.encode()


@task
async def ping(host: str) -> float:
    return 0.0


def use() -> None:
    typed: Task[[int, str], Report] = build
    result: AsyncResult[Report] = build.delay(1, "x")
    report: Report = result.get(timeout=10)
    rows: int = build.delay(2).get().rows + report.rows + typed.apply_async(args=[3]).get().rows
    direct: Report = build(4)  # calling it runs it here
    sent: bool = send_email.delay("a@example.com", subject="hi").get()
    body: bytes = fetch.delay("https://example.com").get()
    seconds: float = ping.delay("db").get()
    later = build.si(5, title="y")
    again: Report = later.delay().get()
    anything = AsyncResult("a-task-id")  # read by id: its task is not known here
    value = anything.get()
    chained = chain(build.s(6), send_email.s(subject="done"))
    print(rows, direct, sent, body, seconds, again, value, chained)


async def use_async() -> None:
    seconds: float = await ping("db")  # called here: the coroutine
    sent = await send_email.adelay("b@example.com", subject="x")
    ok: bool = await sent.aget()
    print(seconds, ok)
