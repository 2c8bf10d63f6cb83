"""The results of several tasks: a group's (GroupResult, its members' in order), and a workflow's,
shaped as the workflow is (tree()): a chain's result is its last node's, whose .parent is the one
before; a chord's is its callback's, whose .parent is the GroupResult of its members.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .. import bounds, many
from ..setup.app import current
from ..wire.workflow import ChainNode, ChordNode, Node, Step
from .asyncresult import AsyncResult, Earlier, check_signal


class GroupResult:
    """The results of a group's members, in the group's order."""

    def __init__(self, results: Sequence[AsyncResult | GroupResult], id: str | None = None) -> None:
        if isinstance(results, str):  # Celery's GroupResult(id, results): its id would be taken apart
            raise TypeError(f"GroupResult takes the results first, then the id: GroupResult([AsyncResult(i) for i in "
                            f"ids], id=...), not the str {results!r:.80} (Celery's GroupResult takes the id first)")
        found = many.items(results, "results", "GroupResult", "AsyncResult or GroupResult objects")
        wrong = next((r for r in found if not isinstance(r, (AsyncResult, GroupResult))), None)
        if wrong is not None:
            raise TypeError(f"GroupResult: results takes AsyncResult or GroupResult objects, and one is "
                            f"{type(wrong).__name__} {wrong!r:.80}" + (" (a task id: AsyncResult(id))"
                                                                     if isinstance(wrong, str) else ""))
        if id is not None and not isinstance(id, str):
            raise TypeError(f"GroupResult: id takes a str, not {type(id).__name__} {id!r:.80}")
        #: A member that is itself a group (a chain ending in a group) is a GroupResult: its list.
        self.results: list[AsyncResult | GroupResult] = found
        self.id = id or str(uuid.uuid4())
        #: In a workflow, the result of the step before it (a chain), as AsyncResult.parent.
        self.parent: Earlier | None = None

    def __repr__(self) -> str:
        return f"<GroupResult {self.id} of {len(self.results)}>"

    def __iter__(self) -> Iterator[AsyncResult | GroupResult]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, index: int) -> AsyncResult | GroupResult:
        return self.results[index]

    def ready(self) -> bool:
        return all(r.ready() for r in self.results)

    def successful(self) -> bool:
        return all(r.successful() for r in self.results)

    def failed(self) -> bool:
        return any(r.failed() for r in self.results)

    def completed_count(self) -> int:
        return sum(r.successful() for r in self.results)

    def leaves(self) -> Iterator[AsyncResult]:
        """Its tasks' results, a member group's in its place."""
        for result in self.results:
            if isinstance(result, GroupResult):
                yield from result.leaves()
            else:
                yield result

    def get(self, timeout: float | None = None, propagate: bool = True) -> list[Any]:
        """Every member's value, in order; waits for each in turn within one overall timeout."""
        if timeout is not None:
            timeout = bounds.seconds(timeout, "GroupResult.get(timeout=...)", none="wait until all are ready")
        deadline = None if timeout is None else time.monotonic() + timeout
        values = []
        for result in self.results:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            values.append(result.get(timeout=left, propagate=propagate))
        return values

    join = get

    def revoke(self, terminate: bool = False, signal: str | int | None = None) -> None:
        check_signal(signal)
        ids = [r.id for r in self.leaves()]
        for broker in current().brokers:  # each shard's fetch.lua reads its own revoked set
            broker.controls.revoke(ids, terminate)


def tree(node: Node, leaf: Callable[[Step], AsyncResult],
         parent: AsyncResult | GroupResult | None = None) -> AsyncResult | GroupResult:
    """The results of a workflow (workflow.py, identified), shaped as it is: a chain's is its last
    node's, whose .parent is the one before; a group's a GroupResult; a chord's its callback's, whose
    .parent is the GroupResult of its header. `leaf` makes each step's."""
    result: AsyncResult | GroupResult | None
    if isinstance(node, ChainNode):
        result = parent
        for one in node.steps:
            result = tree(one, leaf, result)
        assert result is not None
        return result
    if isinstance(node, ChordNode):
        header = GroupResult([tree(m, leaf) for m in node.header], node.id)
        header.parent = parent
        return tree(node.body, leaf, header)
    result = leaf(node) if isinstance(node, Step) else GroupResult([tree(m, leaf) for m in node.members], node.id)
    result.parent = parent
    return result
