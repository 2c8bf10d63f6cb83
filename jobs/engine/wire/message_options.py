"""What a message carries besides its call: the options a worker reads to run it (limits, retries,
its place in a workflow, its slot...), as the envelope's "options" object, sent without the ones left
at their defaults. A value of its own, apart from message.py, which encodes and decodes the whole.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .workflow import ChordSpec, Node, Step, from_wire, to_wire


@dataclass(frozen=True, slots=True)
class MessageOptions:
    """What travels in a message besides the call: how to run it, what follows it (a workflow), and
    the worker's own notes on it. In the envelope as "o", under the keys below, only those set."""

    ignore_result: bool | None = None
    time_limit: float | None = None
    soft_time_limit: float | None = None
    #: A unique task's lock (its key), held until this run ends (lua/enqueue_unique.lua), and its life.
    unique: str | None = None
    unique_ms: int = 0
    #: The rest of this step's chain (steps; the last may be a group or a chord: canonical.py).
    chain: tuple[Node, ...] = ()
    #: The join this step's branch ends in: the chord (or the group something waits for) it is part of.
    chord: ChordSpec | None = None
    #: This is a chord's callback: the chord's id, and whether the members' results go in front.
    chord_of: str | None = None
    chord_pass: bool = True
    #: Put back once by a rate limit (lua/rate.lua): it waits for the budget, not behind new calls.
    rate_waited: bool = False
    #: Its concurrency limit's slot name (the task's name, ":" and its concurrency_key, found when it was
    #: sent), and how often it found every slot taken and was put back (lua/slot.lua).
    slot: str | None = None
    slot_waits: int = 0
    #: The call's headers (options.CallOptions.headers).
    headers: dict[str, Any] | None = None
    #: Sent when it succeeds, its result in front (link), or when it fails (link_error): Celery's.
    link: tuple[Step, ...] = ()
    link_error: tuple[Step, ...] = ()
    #: The task that sent it: the run it was called from, the chain step before it, the chord it
    #: ends (its id), or the run it runs again (Celery's parent_id). Shown in results and history.
    parent: str | None = None
    #: A task no worker knew yet: since when, and how often it was offered again.
    unknown_since: float | None = None
    unknown_tries: int = 0

    def replace(self, **changes: Any) -> MessageOptions:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        if self is NO_MESSAGE_OPTIONS:  # most messages: nothing to say (this runs for every message)
            return {}
        out: dict[str, Any] = {}
        for name, default in _DEFAULTS:
            value = getattr(self, name)
            if value == default:
                continue
            if name == "chain":
                value = [to_wire(node) for node in value]
            elif name in ("link", "link_error"):
                value = [step.to_dict() for step in value]
            elif name == "chord":
                value = value.to_dict()
            out[name] = value
        return out

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> MessageOptions:
        """Keys it does not know (a newer sender) are left out, not an error."""
        if not doc:
            return NO_MESSAGE_OPTIONS
        values = {key: value for key, value in doc.items() if key in _KNOWN}
        if "chain" in values:
            values["chain"] = tuple(from_wire(d) for d in values["chain"])
        for steps in ("link", "link_error"):
            if steps in values:
                values[steps] = tuple(Step.from_dict(d) for d in values[steps])
        if values.get("chord") is not None:
            values["chord"] = ChordSpec.from_dict(values["chord"])
        return cls(**values)


NO_MESSAGE_OPTIONS = MessageOptions()
_DEFAULTS = tuple((f.name, f.default) for f in dataclasses.fields(MessageOptions))
_KNOWN = frozenset(name for name, _ in _DEFAULTS)
