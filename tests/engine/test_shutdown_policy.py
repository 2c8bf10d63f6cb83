"""The order a worker stops in (worker/shutdown.py), on a clock the test drives."""

from jobs.engine.worker.shutdown import NOW, RUNNING, STOPPING, WAITING, Shutdown, Signals


def test_warm_then_cold_by_a_second_signal_or_by_the_timeout():
    signals = Signals()
    try:
        policy = Shutdown(timeout=30)
        assert policy.phase(signals, 100.0) == RUNNING and not policy.begun
        signals.count = 1  # SIGTERM
        assert policy.phase(signals, 100.0) == STOPPING  # once: stop taking tasks
        assert policy.phase(signals, 110.0) == WAITING and policy.deadline == 130.0
        assert policy.phase(signals, 130.0) == NOW and policy.why == "shutdown timeout"
        cold = Shutdown(timeout=30)
        signals.count = 1
        cold.phase(signals, 0.0)
        signals.count = 2  # a second signal: now, whatever the time
        assert cold.phase(signals, 1.0) == NOW and cold.why == "cold shutdown"
    finally:
        signals.close()
