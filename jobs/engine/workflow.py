"""Workflows as they travel: a step of a chain or a chord, written into the message of the step before.

A chain's message carries the steps that follow it; a chord member's carries the chord (its id, its
size, its callback). The worker that settles a step reads them from here (worker/followup.py) and
builds the next message (build.py): it never needs the client's classes (canvas.py), which are built
on these.

The wire form of a step, kept as it was: {"t": task name, "id": its task id, "a": args, "k":
kwargs, "o": options (options.CallOptions, as given), "i": true if immutable}.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .options import NO_OPTIONS, CallOptions

#: The options that hold steps of their own (link, link_error): written and read as steps.
CALLBACKS = ("link", "link_error")


@dataclass(frozen=True, slots=True)
class Step:
    """One call of a task, described but not sent: the task is named, not held, so a step can name a
    task only the workers import, and travel inside a message."""

    task: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    options: CallOptions = NO_OPTIONS
    immutable: bool = False
    id: str | None = None

    def with_args(self, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None) -> Step:
        """`args` put in front of its own, `kwargs` merged (an immutable step keeps its own)."""
        if self.immutable or (not args and not kwargs):
            return self
        return dataclasses.replace(self, args=(*args, *self.args), kwargs={**self.kwargs, **(kwargs or {})})

    def call_options(self) -> CallOptions:
        """Its options for build.message: its own, and its task id."""
        return dataclasses.replace(self.options, task_id=self.id) if self.id else self.options

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"t": self.task, "id": self.id}
        if self.args:
            doc["a"] = list(self.args)
        if self.kwargs:
            doc["k"] = self.kwargs
        options = self.options.given()
        for key in CALLBACKS:
            if key in options:
                options[key] = [step.to_dict() for step in options[key]]
        if options:
            doc["o"] = options
        if self.immutable:
            doc["i"] = True
        return doc

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Step:
        given = dict(doc.get("o") or {})
        for key in CALLBACKS:
            if key in given:
                given[key] = [cls.from_dict(d) for d in given[key]]
        options = CallOptions.parse(doc["t"], given, signature=True)
        return cls(doc["t"], tuple(doc.get("a", ())), dict(doc.get("k") or {}), options, bool(doc.get("i", False)),
                   doc.get("id"))


@dataclass(frozen=True, slots=True)
class ChordSpec:
    """What a chord member's message says of its chord: the callback runs once all `size` ended."""

    id: str
    size: int
    callback: Step

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "n": self.size, "cb": self.callback.to_dict()}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> ChordSpec:
        return cls(doc["id"], int(doc["n"]), Step.from_dict(doc["cb"]))
