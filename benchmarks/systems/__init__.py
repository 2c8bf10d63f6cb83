"""One module per system under test. Each defines, against the broker at $BENCH_BROKER:

    send(n, payload, sleep)        enqueue n tasks, one call each
    send_bulk(n, payload, sleep)   the same through the system's bulk API, or None if it has none
    send_stamped()                 enqueue one latency task carrying the time it was sent
    send_timed(sleep, warm=False)  enqueue one task sleeping `sleep` s that records its start, its wait
                                   since it was sent, and its end (common.timed); warm: only counted
    fill(n, queues=None)           put n waiting no-op tasks as fast as the system allows (its bulk API,
                                   or copies of its own message), spread over the queues if given
    worker_command(pool, n, queues=None)
                                   argv of a worker with n processes ("prefork") or threads ("threads"),
                                   consuming the queues if given; None if the system has no such pool or
                                   cannot consume those queues in one worker
    NAME, VERSION

Their tasks do the same work (common.py): sleep if asked, then one INCR on a second Redis
($BENCH_COUNTER), so the run knows when it is done and the broker's commands are the queue's own.
"""

SYSTEMS = ["jobs", "celery", "rq", "dramatiq", "huey"]
