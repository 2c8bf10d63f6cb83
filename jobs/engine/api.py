"""The engine's public API: everything the Django side of jobs (and a user) may take from the engine,
in one place. Nothing else of jobs/engine/ is imported from outside it (tests/test_structure.py).

Each name is loaded when first asked for (module __getattr__), so importing this module loads no
part of the engine, and a web process that never asks for the worker never imports it: `runworker`
asks for run_worker, a view for Monitor. The names and where they live are the table below; the
block under TYPE_CHECKING says the same to type checkers (a test keeps the two equal).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import bounds as bounds
    from . import many as many
    from .beat import periodic as periodic
    from .beat.crontab import Crontab as Crontab
    from .beat.crontab import zone_name as zone_name
    from .beat.periodic import Clocked as Clocked
    from .beat.scheduler import Beat as Beat
    from .beat.scheduler import Entry as Entry
    from .bounds import shown as shown
    from .errors import BrokerUnavailable as BrokerUnavailable
    from .errors import ChordError as ChordError
    from .errors import ConfigurationError as ConfigurationError
    from .errors import ContentDisallowed as ContentDisallowed
    from .errors import DecodeError as DecodeError
    from .errors import DuplicateTaskName as DuplicateTaskName
    from .errors import EncodeError as EncodeError
    from .errors import Encrypted as Encrypted
    from .errors import JobsError as JobsError
    from .errors import MaxRetriesExceededError as MaxRetriesExceededError
    from .errors import NotRegistered as NotRegistered
    from .errors import Retry as Retry
    from .errors import ScheduleError as ScheduleError
    from .errors import SoftTimeLimitExceeded as SoftTimeLimitExceeded
    from .errors import TaskFailed as TaskFailed
    from .errors import TaskRevoked as TaskRevoked
    from .errors import TimeLimitExceeded as TimeLimitExceeded
    from .errors import TimeoutError as TimeoutError
    from .errors import WorkerLostError as WorkerLostError
    from .logs import TaskContextFilter as TaskContextFilter
    from .logs import get_task_logger as get_task_logger
    from .ops import health as health
    from .ops.health import Check as Check
    from .ops.health import as_json as as_json
    from .ops.health import readiness as readiness
    from .ops.metrics import exposition as exposition
    from .ops.monitor import Monitor as Monitor
    from .ops.rows import DeadLetter as DeadLetter
    from .ops.rows import Held as Held
    from .redis.connection import TRANSIENT as TRANSIENT
    from .redis.connection import redact as redact_url  # noqa: F401 (renamed: exported by WHERE)
    from .redis.server import Finding as Finding
    from .redis.server import acl_setuser as acl_setuser
    from .redis.server import findings as redis_findings  # noqa: F401 (renamed: exported by WHERE)
    from .redis.tally import RUNTIME_BUCKETS as RUNTIME_BUCKETS
    from .redis.tls import probe_tls as probe_tls
    from .redis.tls import tls_failure as tls_failure
    from .send.asyncresult import AsyncResult as AsyncResult
    from .send.canvas import Signature as Signature
    from .send.canvas import chain as chain
    from .send.canvas import chord as chord
    from .send.canvas import group as group
    from .send.canvas import signature as signature
    from .send.eager import EagerResult as EagerResult
    from .send.groupresult import GroupResult as GroupResult
    from .send.producer import enqueue_many as enqueue_many
    from .send.producer import send as send
    from .send.producer import send_task as send_task
    from .send.relay import MAX_PAUSE as MAX_PAUSE
    from .send.relay import Relay as Relay
    from .send.task import Task as Task
    from .send.task import task as task
    from .setup import app as app
    from .setup.app import current as current
    from .setup.build import message as build_message  # noqa: F401 (renamed: exported by WHERE)
    from .setup.config import DEFAULT_BROKER_URL as DEFAULT_BROKER_URL
    from .setup.config import Config as Config
    from .setup.definition import TaskDefinition as TaskDefinition
    from .setup.number_settings import NUMBERS as NUMBERS
    from .setup.number_settings import check_number as check_number
    from .setup.registry import registry as registry
    from .version import __version__ as __version__
    from .wire.header import Header as Header
    from .wire.message import decode as decode_message  # noqa: F401 (renamed: exported by WHERE)
    from .wire.names import check_name as check_name
    from .wire.options import CallOptions as CallOptions
    from .wire.outcome import FAILURE as FAILURE
    from .wire.outcome import PENDING as PENDING
    from .wire.outcome import READY_STATES as READY_STATES
    from .wire.outcome import RETRY as RETRY
    from .wire.outcome import REVOKED as REVOKED
    from .wire.outcome import STARTED as STARTED
    from .wire.outcome import SUCCESS as SUCCESS
    from .wire.outcome import decode as decode_result  # noqa: F401 (renamed: exported by WHERE)
    from .wire.outgoing import Backlog as Backlog
    from .wire.outgoing import Outgoing as Outgoing
    from .wire.record import Record as Record
    from .wire.request import Request as Request
    from .wire.serializers import json_dumps as json_dumps
    from .wire.serializers import json_loads as json_loads
    from .wire.serializers import raw_loads as raw_loads
    from .worker import WorkerOptions as WorkerOptions
    from .worker import banner as worker_banner  # noqa: F401 (renamed: exported by WHERE)
    from .worker import run as run_worker  # noqa: F401 (renamed: exported by WHERE)

#: Name -> (module, attribute; "" for the module itself).
WHERE: dict[str, tuple[str, str]] = {
    "Crontab": ("jobs.engine.beat.crontab", "Crontab"),
    "zone_name": ("jobs.engine.beat.crontab", "zone_name"),
    "periodic": ("jobs.engine.beat.periodic", ""),
    "Clocked": ("jobs.engine.beat.periodic", "Clocked"),
    "Beat": ("jobs.engine.beat.scheduler", "Beat"),
    "Entry": ("jobs.engine.beat.scheduler", "Entry"),
    "bounds": ("jobs.engine.bounds", ""),
    "shown": ("jobs.engine.bounds", "shown"),
    "BrokerUnavailable": ("jobs.engine.errors", "BrokerUnavailable"),
    "ChordError": ("jobs.engine.errors", "ChordError"),
    "ConfigurationError": ("jobs.engine.errors", "ConfigurationError"),
    "ContentDisallowed": ("jobs.engine.errors", "ContentDisallowed"),
    "Encrypted": ("jobs.engine.errors", "Encrypted"),
    "DecodeError": ("jobs.engine.errors", "DecodeError"),
    "DuplicateTaskName": ("jobs.engine.errors", "DuplicateTaskName"),
    "EncodeError": ("jobs.engine.errors", "EncodeError"),
    "JobsError": ("jobs.engine.errors", "JobsError"),
    "MaxRetriesExceededError": ("jobs.engine.errors", "MaxRetriesExceededError"),
    "NotRegistered": ("jobs.engine.errors", "NotRegistered"),
    "Retry": ("jobs.engine.errors", "Retry"),
    "ScheduleError": ("jobs.engine.errors", "ScheduleError"),
    "SoftTimeLimitExceeded": ("jobs.engine.errors", "SoftTimeLimitExceeded"),
    "TaskFailed": ("jobs.engine.errors", "TaskFailed"),
    "TaskRevoked": ("jobs.engine.errors", "TaskRevoked"),
    "TimeLimitExceeded": ("jobs.engine.errors", "TimeLimitExceeded"),
    "TimeoutError": ("jobs.engine.errors", "TimeoutError"),
    "WorkerLostError": ("jobs.engine.errors", "WorkerLostError"),
    "TaskContextFilter": ("jobs.engine.logs", "TaskContextFilter"),
    "get_task_logger": ("jobs.engine.logs", "get_task_logger"),
    "many": ("jobs.engine.many", ""),
    "health": ("jobs.engine.ops.health", ""),
    "Check": ("jobs.engine.ops.health", "Check"),
    "as_json": ("jobs.engine.ops.health", "as_json"),
    "readiness": ("jobs.engine.ops.health", "readiness"),
    "exposition": ("jobs.engine.ops.metrics", "exposition"),
    "Monitor": ("jobs.engine.ops.monitor", "Monitor"),
    "Record": ("jobs.engine.wire.record", "Record"),
    "Backlog": ("jobs.engine.wire.outgoing", "Backlog"),
    "Outgoing": ("jobs.engine.wire.outgoing", "Outgoing"),
    "Relay": ("jobs.engine.send.relay", "Relay"),
    "MAX_PAUSE": ("jobs.engine.send.relay", "MAX_PAUSE"),
    "DeadLetter": ("jobs.engine.ops.rows", "DeadLetter"),
    "Held": ("jobs.engine.ops.rows", "Held"),
    "TRANSIENT": ("jobs.engine.redis.connection", "TRANSIENT"),
    "redact_url": ("jobs.engine.redis.connection", "redact"),
    "acl_setuser": ("jobs.engine.redis.server", "acl_setuser"),
    "Finding": ("jobs.engine.redis.server", "Finding"),
    "redis_findings": ("jobs.engine.redis.server", "findings"),
    "RUNTIME_BUCKETS": ("jobs.engine.redis.tally", "RUNTIME_BUCKETS"),
    "probe_tls": ("jobs.engine.redis.tls", "probe_tls"),
    "tls_failure": ("jobs.engine.redis.tls", "tls_failure"),
    "AsyncResult": ("jobs.engine.send.asyncresult", "AsyncResult"),
    "Signature": ("jobs.engine.send.canvas", "Signature"),
    "chain": ("jobs.engine.send.canvas", "chain"),
    "chord": ("jobs.engine.send.canvas", "chord"),
    "group": ("jobs.engine.send.canvas", "group"),
    "signature": ("jobs.engine.send.canvas", "signature"),
    "EagerResult": ("jobs.engine.send.eager", "EagerResult"),
    "GroupResult": ("jobs.engine.send.groupresult", "GroupResult"),
    "enqueue_many": ("jobs.engine.send.producer", "enqueue_many"),
    "send": ("jobs.engine.send.producer", "send"),
    "send_task": ("jobs.engine.send.producer", "send_task"),
    "Task": ("jobs.engine.send.task", "Task"),
    "task": ("jobs.engine.send.task", "task"),
    "app": ("jobs.engine.setup.app", ""),
    "current": ("jobs.engine.setup.app", "current"),
    "build_message": ("jobs.engine.setup.build", "message"),
    "Config": ("jobs.engine.setup.config", "Config"),
    "DEFAULT_BROKER_URL": ("jobs.engine.setup.config", "DEFAULT_BROKER_URL"),
    "NUMBERS": ("jobs.engine.setup.number_settings", "NUMBERS"),
    "check_number": ("jobs.engine.setup.number_settings", "check_number"),
    "TaskDefinition": ("jobs.engine.setup.definition", "TaskDefinition"),
    "registry": ("jobs.engine.setup.registry", "registry"),
    "__version__": ("jobs.engine.version", "__version__"),
    "Header": ("jobs.engine.wire.header", "Header"),
    "decode_message": ("jobs.engine.wire.message", "decode"),
    "check_name": ("jobs.engine.wire.names", "check_name"),
    "CallOptions": ("jobs.engine.wire.options", "CallOptions"),
    "FAILURE": ("jobs.engine.wire.outcome", "FAILURE"),
    "PENDING": ("jobs.engine.wire.outcome", "PENDING"),
    "READY_STATES": ("jobs.engine.wire.outcome", "READY_STATES"),
    "RETRY": ("jobs.engine.wire.outcome", "RETRY"),
    "REVOKED": ("jobs.engine.wire.outcome", "REVOKED"),
    "STARTED": ("jobs.engine.wire.outcome", "STARTED"),
    "SUCCESS": ("jobs.engine.wire.outcome", "SUCCESS"),
    "decode_result": ("jobs.engine.wire.outcome", "decode"),
    "Request": ("jobs.engine.wire.request", "Request"),
    "json_dumps": ("jobs.engine.wire.serializers", "json_dumps"),
    "json_loads": ("jobs.engine.wire.serializers", "json_loads"),
    "raw_loads": ("jobs.engine.wire.serializers", "raw_loads"),
    "WorkerOptions": ("jobs.engine.worker", "WorkerOptions"),
    "run_worker": ("jobs.engine.worker", "run"),
    "worker_banner": ("jobs.engine.worker", "banner"),
}

__all__ = sorted(WHERE)


def __getattr__(name: str) -> Any:
    try:
        module, attribute = WHERE[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = importlib.import_module(module)
    if attribute:
        value = getattr(value, attribute)
    globals()[name] = value  # asked once
    return value


def __dir__() -> list[str]:
    return __all__
