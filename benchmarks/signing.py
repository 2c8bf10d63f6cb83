"""What signing (and encrypt=True) costs a message (JOBS["SIGNING_KEYS"], jobs/engine/wire/signing.py): the producer's
encode and the worker's decode, with and without a key, for a plain call and one with ~1 KB and
~64 KB of arguments. No Redis: the cost is CPU in the process, per message. Run by `make bench`,
or alone: python -m benchmarks.signing
"""

from __future__ import annotations

import os
import platform
import sys
import timeit
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jobs.engine.wire.message import Message, decode  # noqa: E402
from jobs.engine.wire.signing import sign, verify  # noqa: E402

KEY = b"k" * 32
OLD = b"o" * 32
CASES = {
    "plain call (add(2, 3))": Message(id="5f0b1e7c-1d2e-4a3b-9c8d-0123456789ab", task="app.tasks.add", args=(2, 3)),
    "~1 KB of arguments": Message(id="5f0b1e7c-1d2e-4a3b-9c8d-0123456789ab", task="app.tasks.report",
                                  args=("x" * 1000,), kwargs={"user": 42}),
    "~64 KB of arguments": Message(id="5f0b1e7c-1d2e-4a3b-9c8d-0123456789ab", task="app.tasks.report",
                                   args=("x" * 65536,)),
}


def per_call_us(fn: Callable[[], object], number: int) -> float:
    """The best of 7 runs, µs a call: the machine's noise only ever adds."""
    return min(timeit.repeat(fn, number=number, repeat=7)) / number * 1e6


def row(name: str, message: Message) -> str:
    number = 20_000 if len(message.encode()) < 10_000 else 1_000
    raw = message.encode(KEY).encode()
    stamp, _, rest = message.encode().split("|", 2)
    enc = per_call_us(message.encode, number)
    sign_us = (per_call_us(lambda: sign(stamp, 0, rest, KEY), number)
               - per_call_us(lambda: sign(stamp, 0, rest, None), number))
    dec = per_call_us(lambda: decode(raw, "default", ("json",)), number)
    first = per_call_us(lambda: verify(raw, (KEY,)), number)
    second = per_call_us(lambda: verify(raw, (OLD, KEY)), number)
    return f"| {name} | {len(raw):,} | {enc:.1f} | {sign_us:.1f} | {dec:.1f} | {first:.1f} | {second:.1f} |"


def sealed_row(name: str, message: Message) -> str:
    """An encrypt=True task's message beside the same message signed only: encoded, then decoded."""
    number = 20_000 if len(message.encode()) < 10_000 else 1_000
    sealed = message.replace(encrypted=True)
    plain_raw, sealed_raw = message.encode(KEY).encode(), sealed.encode(KEY).encode()
    times = [per_call_us(lambda: message.encode(KEY), number), per_call_us(lambda: sealed.encode(KEY), number),
             per_call_us(lambda: decode(plain_raw, "default", ("json",), (KEY,)), number),
             per_call_us(lambda: decode(sealed_raw, "default", ("json",), (KEY,)), number)]
    return f"| {name} | {len(sealed_raw):,} | " + " | ".join(f"{t:.1f}" for t in times) + " |"


def main() -> None:
    print(f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs")
    print("| message | bytes | encode µs | sign µs | decode µs | verify µs | verify, by the 2nd key µs |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, message in CASES.items():
        print(row(name, message))
    print()
    print("| message | bytes encrypted | encode µs, signed | encode µs, encrypted | decode µs, signed "
          "| decode µs, encrypted |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, message in CASES.items():
        print(sealed_row(name, message))


if __name__ == "__main__":
    main()
