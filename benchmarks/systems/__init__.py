"""One module per system under test. Each defines, against the broker at $BENCH_BROKER:

    send(n, payload, sleep)        enqueue n tasks, one call each
    send_bulk(n, payload, sleep)   the same through the system's bulk API, or None if it has none
    send_stamped()                 enqueue one latency task carrying the time it was sent
    worker_command(pool, n)        argv of a worker with n processes ("prefork") or threads ("threads"),
                                   or None if the system has no such pool
    NAME, VERSION

Their tasks do the same work (common.py): sleep if asked, then one INCR on a second Redis
($BENCH_COUNTER), so the run knows when it is done and the broker's commands are the queue's own.
"""

SYSTEMS = ["jobs", "celery", "rq", "dramatiq", "huey"]
