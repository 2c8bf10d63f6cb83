"""The sending side of a measurement, in a process of its own: `python -m benchmarks.client
SYSTEM ACTION N [PAYLOAD_BYTES SLEEP]`. Prints {"seconds": ...} for the sending alone.

ACTION: send (one call a task), bulk (the system's bulk API), stamped (N latency tasks, one every
20 ms, each carrying the time it was sent), fill (N waiting no-op tasks put as fast as the system
allows, spread over $BENCH_QUEUES if set), mixed (N short tasks of 1 ms with one sleeping SLEEP seconds in
the middle, each carrying the time it was sent; a warm-up task first), one (a single such short task).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time


def main() -> None:
    system, action, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    payload = "x" * int(sys.argv[4]) if len(sys.argv) > 4 else ""
    sleep = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
    module = importlib.import_module(f"benchmarks.systems.{system}_system")
    if action == "stamped":
        module.send_stamped()  # warm: connections open, scripts loaded
        started = time.perf_counter()
        for i in range(n):
            next_at = started + 0.02 * (i + 1)
            time.sleep(max(0.0, next_at - time.perf_counter()))  # the pacing of light load
            module.send_stamped()
        print(json.dumps({"seconds": time.perf_counter() - started}))
        return
    if action == "fill":
        queues = os.environ.get("BENCH_QUEUES")
        started = time.perf_counter()
        module.fill(n, queues.split(",") if queues else None)
        print(json.dumps({"seconds": time.perf_counter() - started}))
        return
    if action in ("mixed", "one"):
        if action == "mixed":
            module.send_timed(0.0, warm=True)  # connections open, scripts loaded; only counted
        started = time.time()
        for i in range(n):
            if sleep and i == n // 2:
                module.send_timed(sleep)  # the long one, in the middle: short ones queued on either side
            module.send_timed(0.001)
        print(json.dumps({"started": started, "seconds": time.time() - started}))
        return
    send = module.send if action == "send" else module.send_bulk
    if send is None:
        print(json.dumps({"seconds": None}))
        return
    send(min(50, n), payload, sleep)  # warm: connections open, scripts loaded (not timed)
    started = time.perf_counter()
    send(n, payload, sleep)
    print(json.dumps({"seconds": time.perf_counter() - started, "warmup": min(50, n)}))


if __name__ == "__main__":
    main()
