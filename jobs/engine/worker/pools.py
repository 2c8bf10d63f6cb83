"""Where consumers live: child processes (prefork), threads, or the main thread (solo).

Prefork children are forked from a parent that has imported Django and the tasks once; each child
opens its own Redis connections. A child dies with its parent (PR_SET_PDEATHSIG on Linux), so a
`kill -9` of the worker cannot leave orphans running tasks whose leases nobody renews, and it ignores
SIGINT so that Ctrl-C in a terminal reaches the parent only, which then runs the shutdown in order.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Protocol

from .consumer import Consumer

logger = logging.getLogger("jobs.worker")

ConsumerFactory = Callable[[int, str], Consumer]


class Pool(Protocol):
    """Where a worker's consumers live (ProcessPool, ThreadPool), as its supervisor drives them."""

    kind: str

    def start(self, slot: int, prefix: str) -> None: ...

    def reap(self) -> list[tuple[int, int]]: ...

    def ident(self, slot: int) -> int | None: ...

    def kill_slot(self, slot: int) -> None: ...

    def request_stop(self) -> None: ...

    def kill(self) -> None: ...

    def alive(self) -> int: ...


def die_with_parent(parent: int) -> None:
    # CDLL(None): the symbols already loaded into this process, libc's among them. Not
    # ctypes.util.find_library("c"), which runs `ldconfig -p` (or a compiler) in every new child: 2-6 ms
    # of each consumer's start, before its first fetch.
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the child still notices between tasks via getppid()
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def fork_holding_sigterm() -> int:
    """os.fork() for a worker's child (a consumer, the recorder): buffered output flushed first, so
    neither process writes the other's; and SIGTERM blocked across the fork, so that until the child
    has its own handlers a SIGTERM waits (the child unblocks it) instead of running the parent's
    handler in the child, where it would be lost. In the parent it is unblocked at once."""
    sys.stdout.flush()
    sys.stderr.flush()
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    pid = os.fork()
    if pid:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    return pid


class ProcessPool:
    kind = "prefork"

    def __init__(self, size: int, make: ConsumerFactory, before_fork: Callable[[], None],
                 child_started: Callable[[], None]) -> None:
        self.size = size
        self._make = make
        self._before_fork = before_fork
        self._child_started = child_started
        self.pids: dict[int, int] = {}  # slot -> pid
        self.generation: dict[int, int] = {}

    def start(self, slot: int, prefix: str) -> None:
        self._before_fork()
        parent = os.getpid()
        pid = fork_holding_sigterm()
        if pid:
            self.pids[slot] = pid
            return
        code = 0
        try:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            early_stop: list[int] = []  # a SIGTERM before the consumer exists must not be lost
            signal.signal(signal.SIGTERM, lambda *_: early_stop.append(1))
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
            die_with_parent(parent)
            multiprocessing.current_process().name = f"Consumer-{slot}"  # shown as processName in logs
            consumer = self._make(slot, prefix)
            signal.signal(signal.SIGTERM, lambda *_: consumer.stop())
            if early_stop:
                consumer.stop()
            self._child_started()
            consumer.run()
        except BaseException:
            logger.exception("consumer %d crashed", slot)
            code = 1
        finally:
            logging.shutdown()
            os._exit(code)

    def reap(self) -> list[tuple[int, int]]:
        """(slot, wait status) of children that ended since the last call."""
        ended = []
        for slot, pid in list(self.pids.items()):
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done, status = pid, 0xFF00  # reaped elsewhere: its status is unknown, not clean
            if done:
                del self.pids[slot]
                ended.append((slot, status))
        return ended

    def ident(self, slot: int) -> int | None:
        return None  # a process: signals and kills, not exceptions raised into a thread

    def kill_slot(self, slot: int) -> None:
        pid = self.pids.get(slot)
        if pid is not None:
            send_signal(pid, signal.SIGKILL)

    def request_stop(self) -> None:
        for pid in self.pids.values():
            send_signal(pid, signal.SIGTERM)

    def kill(self) -> None:
        for pid in self.pids.values():
            send_signal(pid, signal.SIGKILL)

    def alive(self) -> int:
        return len(self.pids)


def send_signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


class ThreadPool:
    """Consumers in threads of this process: for I/O-bound tasks. Threads cannot be killed, so a
    shutdown that runs out of time hands their tasks back and lets the process exit under them."""

    kind = "threads"

    def __init__(self, size: int, make: ConsumerFactory) -> None:
        self.size = size
        self._make = make
        self.threads: dict[int, threading.Thread] = {}
        self.consumers: dict[int, Consumer] = {}
        self.crashed: set[int] = set()

    def start(self, slot: int, prefix: str) -> None:
        consumer = self._make(slot, prefix)
        self.consumers[slot] = consumer
        thread = threading.Thread(target=self._run, args=(consumer,), name=f"jobs-consumer-{slot}",
                                  daemon=True)
        self.threads[slot] = thread
        thread.start()

    def _run(self, consumer: Consumer) -> None:
        try:
            consumer.run()
        except BaseException:
            logger.exception("consumer %d crashed", consumer.slot)
            self.crashed.add(consumer.slot)

    def reap(self) -> list[tuple[int, int]]:
        """(slot, wait-style status) of threads that ended: 0 clean, exit code 1 if it crashed."""
        ended = [(slot, 0x100 if slot in self.crashed else 0)
                 for slot, t in self.threads.items() if not t.is_alive()]
        for slot, _ in ended:
            del self.threads[slot]
            del self.consumers[slot]
            self.crashed.discard(slot)
        return ended

    def ident(self, slot: int) -> int | None:
        thread = self.threads.get(slot)
        return thread.ident if thread is not None else None

    def kill_slot(self, slot: int) -> None:
        raise NotImplementedError("a thread cannot be killed")

    def request_stop(self) -> None:
        for consumer in self.consumers.values():
            consumer.stop()

    def kill(self) -> None:
        self.request_stop()
        self.threads.clear()
        self.consumers.clear()

    def alive(self) -> int:
        return sum(1 for t in self.threads.values() if t.is_alive())


def describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            return f"killed by {signal.Signals(sig).name}"
        except ValueError:
            return f"killed by signal {sig}"
    return f"exited with code {os.WEXITSTATUS(status)}"


def exited_cleanly(status: int) -> bool:
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0

