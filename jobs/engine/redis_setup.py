"""What jobs needs of the Redis it runs on, checked where it can be: by `manage.py check`, when a
worker or beat starts, and by `manage.py jobs status`.

- Eviction off (`maxmemory-policy noeviction`). Any other policy lets Redis delete keys when memory
  runs short: allkeys-* may delete queues, leases, in-flight copies and results, volatile-* our keys
  with an expiry (chord sets, unique locks, inboxes, results). Nothing would be logged: tasks would
  just be gone. So it is an error, unless JOBS["ALLOW_EVICTION"] says the risk is accepted.
- Persistence (appendonly yes, or RDB snapshots). Without it a restart of Redis loses every queued
  task and every result: a warning, since a development Redis often keeps nothing on disk.

What Redis says (INFO, and CONFIG GET save where a managed Redis allows it) is read by
monitor.Monitor.redis_setup(); this module only judges it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .connection import redact


@dataclass(frozen=True)
class Finding:
    """One thing wrong with the Redis, as a system check reports it."""

    level: str  # "error" | "warning"
    id: str  # the system check's id: jobs.E002, jobs.W002...
    message: str
    hint: str


@dataclass(frozen=True)
class RedisSetup:
    """What Redis says of its memory policy and persistence."""

    version: str
    policy: str
    maxmemory: int
    appendonly: bool
    #: RDB snapshots configured ("save" is not empty); None where CONFIG is not allowed.
    snapshots: bool | None


@dataclass(frozen=True)
class RedisHealth:
    """What an operator watches of the Redis (the console's overview), from one INFO."""

    version: str
    used_memory: int  # bytes
    maxmemory: int  # bytes; 0 = no limit
    maxmemory_policy: str
    aof_enabled: bool
    rdb_last_save: float  # unix s of the last RDB snapshot (or of the start, if none)
    rdb_changes_since_last_save: int
    connected_clients: int
    instantaneous_ops_per_sec: int
    uptime_seconds: int

    @classmethod
    def of(cls, info: dict[str, str]) -> RedisHealth:
        def number(key: str) -> int:
            value = info.get(key, "0")
            return int(value) if value.lstrip("-").isdigit() else 0

        return cls(version=info.get("redis_version") or info.get("valkey_version", "?"),
                   used_memory=number("used_memory"), maxmemory=number("maxmemory"),
                   maxmemory_policy=info.get("maxmemory_policy", "noeviction"),
                   aof_enabled=info.get("aof_enabled", "0") == "1", rdb_last_save=float(number("rdb_last_save_time")),
                   rdb_changes_since_last_save=number("rdb_changes_since_last_save"),
                   connected_clients=number("connected_clients"),
                   instantaneous_ops_per_sec=number("instantaneous_ops_per_sec"),
                   uptime_seconds=number("uptime_in_seconds"))


def parse_info(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith("#"):
            key, _, value = line.partition(":")
            out[key.strip()] = value.strip()
    return out


def findings(setup: RedisSetup, url: str, allow_eviction: bool = False) -> list[Finding]:
    out = []
    if setup.policy != "noeviction":
        what = ("any key, queues and tasks in flight included" if setup.policy.startswith("allkeys")
                else "keys with an expiry: chord state, unique locks, inboxes, results")
        message = (f"Redis at {redact(url)} evicts keys when its memory is full (maxmemory-policy "
                   f"{setup.policy}): it would silently delete {what}.")
        if allow_eviction:
            out.append(Finding("warning", "jobs.W002", message + " JOBS['ALLOW_EVICTION'] accepts that risk.",
                                "Set maxmemory-policy noeviction on this Redis to remove it."))
        else:
            out.append(Finding(
                "error", "jobs.E002", message,
                "Set `maxmemory-policy noeviction` (redis.conf, or CONFIG SET maxmemory-policy noeviction), or give "
                "jobs a Redis of its own; see docs/workers.md. To accept the risk, set JOBS['ALLOW_EVICTION'] = True."))
    if not setup.appendonly and setup.snapshots is False:
        out.append(Finding(
            "warning", "jobs.W003",
            f"Redis at {redact(url)} keeps nothing on disk (appendonly no, no RDB snapshots): a restart of Redis "
            "loses every queued task and every result.",
            "Set `appendonly yes` (and appendfsync everysec or always); see docs/workers.md."))
    return out
