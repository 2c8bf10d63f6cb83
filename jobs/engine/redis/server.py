"""What jobs needs of the Redis it runs on, checked where it can be: by `manage.py check`, when a
worker or beat starts, and by `manage.py jobs status`.

- Eviction off (`maxmemory-policy noeviction`). Any other policy lets Redis delete keys when memory
  runs short: allkeys-* may delete queues, leases, in-flight copies and results, volatile-* our keys
  with an expiry (chord sets, unique locks, inboxes, results). Nothing would be logged: tasks would
  just be gone. So it is an error, unless JOBS["ALLOW_EVICTION"] says the risk is accepted.
- Persistence (appendonly yes, or RDB snapshots). Without it a restart of Redis loses every queued
  task and every result: a warning, since a development Redis often keeps nothing on disk.

What Redis says (INFO, and CONFIG GET save where a managed Redis allows it) is read by
reads.Reads.setup(); this module only judges it. A Redis user with fewer rights (the one
below) or a managed Redis may refuse either: what could not be read is a warning, never a failure.

It also says what jobs needs of its Redis user: acl_setuser() is the `ACL SETUSER` line of
docs/operations.md, for a user confined to jobs' keys and channels and to the commands jobs sends.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..wire.names import check_name
from .connection import redact
from .keys import Keys

#: Every command jobs sends (the connection's handshake; the broker's parts, scripts.py) and every
#: command its Lua scripts call (lua/**.lua, checked as the caller's user), for the least-privilege
#: user of acl_setuser(). tests/acceptance/test_acl.py finds them in the sources and runs the core
#: scenarios as that user. Left out on purpose, because jobs does without them: CONFIG (the
#: persistence check degrades to a warning, findings() W004) and SCAN (it would list every key of a
#: shared Redis; broker.workers.hello does without it).
ACL_COMMANDS = frozenset({
    # connecting (a BROKER_URL with a database number other than 0); the scripts: every atomic move
    "select", "evalsha", "script|load",
    # outside the scripts (the broker's parts, reads.py): an idle consumer's wait, a result's wait (its done:<id>
    # channel), results, records and counters, the history's recorders, the console's reads, and INFO
    # for the eviction check and the console's Redis panel
    "blpop", "subscribe", "get", "mget", "set", "del", "exists", "rpush", "lrange", "sadd", "srem", "smembers",
    "hget", "hgetall", "hmget", "hlen", "hincrby", "zcard", "zcount", "zrange", "zrevrange", "zrem",
    "xreadgroup", "xgroup|create", "xlen", "time", "info",
    # JOBS["ENQUEUE_REPLICAS"]: a durable write waits for replicas (replicas.py)
    "wait",
    # a Redis Cluster (redis+cluster://): the slot map, and a command sent on after an ASK (cluster.py, redirects.py)
    "cluster|slots", "asking",
    # what the scripts call besides those (lua/**.lua)
    "hdel", "hexists", "hset", "hsetnx", "incr", "llen", "lpop", "lpos", "lrem", "pexpire", "pttl", "publish", "scard",
    "sismember", "xack", "xadd", "xautoclaim", "xclaim", "xdel", "xgroup|delconsumer", "xinfo|consumers",
    "xpending", "zadd", "zpopmin", "zrangebyscore", "zremrangebyscore", "zscore",
})


def acl_rules(prefix: str = "jobs", shards: int = 1) -> list[str]:
    """The rules of jobs' Redis user, after `reset on >password`: its keys (every key of this
    KEY_PREFIX, of each of its shards: keys.py), its channels (the done:<id> notices) and its commands."""
    check_name("KEY_PREFIX", prefix, ValueError)
    each = [Keys(prefix, shard) for shard in range(shards)]
    return [*(f"~{keys.base}*" for keys in each), "resetchannels", *(f"&{keys.done_prefix}*" for keys in each),
            "-@all", *(f"+{command}" for command in sorted(ACL_COMMANDS))]


def acl_setuser(prefix: str = "jobs", user: str = "jobs", password: str = "PASSWORD", shards: int = 1) -> str:
    """The `ACL SETUSER` line (redis-cli) that makes (or resets) jobs' user: Redis 6.2 or later. `reset`
    first, so that running it again leaves exactly these rights."""
    check_name("the user name", user, ValueError)
    if not password or any(c.isspace() for c in password):
        raise ValueError("the password must be a non-empty string without spaces")
    return " ".join(["ACL", "SETUSER", user, "reset", "on", f">{password}", *acl_rules(prefix, shards)])


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
    policy: str  # "" where INFO was refused
    maxmemory: int
    appendonly: bool
    #: RDB snapshots configured ("save" is not empty); None where CONFIG is not allowed.
    snapshots: bool | None
    #: (command, Redis's answer) for what it refused to tell: INFO, or CONFIG GET to a user without
    #: the right (NOPERM; a managed Redis that renamed CONFIG away is not asked for more).
    refused: tuple[tuple[str, str], ...] = ()


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
    refused = dict(setup.refused)
    if "INFO" in refused:
        return [Finding(
            "warning", "jobs.W005",
            f"Redis at {redact(url)} refused INFO ({refused['INFO']}): jobs cannot check that it keeps tasks "
            "(maxmemory-policy noeviction, persistence).",
            "Allow +info to jobs' Redis user (the ACL line of docs/operations.md), or check both by hand.")]
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
    if not setup.appendonly and "CONFIG" in refused:
        out.append(Finding(
            "warning", "jobs.W004",
            f"Redis at {redact(url)} has appendonly no and refused CONFIG GET save "
            f"({refused['CONFIG']}), so jobs cannot tell whether it keeps RDB snapshots: "
            "without them a restart of Redis loses every queued task and every result.",
            "Make sure it persists (appendonly yes, or RDB snapshots); jobs' own user needs no CONFIG "
            "(docs/operations.md). Silence with SILENCED_SYSTEM_CHECKS = ['jobs.W004'] once it does."))
    return out
