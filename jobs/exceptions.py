"""The exceptions users catch, as ``jobs.exceptions.X``; they are defined in jobs.engine.errors."""

from .engine.api import (  # noqa: F401
    BrokerUnavailable,
    ConfigurationError,
    ContentDisallowed,
    DecodeError,
    DuplicateTaskName,
    EncodeError,
    JobsError,
    MaxRetriesExceededError,
    NotRegistered,
    Retry,
    SoftTimeLimitExceeded,
    TaskFailed,
    TaskRevoked,
    TimeLimitExceeded,
    TimeoutError,
    WorkerLostError,
)
