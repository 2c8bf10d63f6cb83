"""A chord's callback, about to run: the members' results to run with, in front of its own
arguments (a group's, nested: a list in the list), or the ChordError it ends with.

The join's list of members and their results are read where they are: on a site with shards
(setup/shards.py) a member's result lives on its own queue's shard, and the list on the shard the
workflow's first message went to, neither of which need be the callback's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..errors import ChordError
from ..setup.app import App
from ..wire.message import Message
from ..wire.outcome import FAILURE, SUCCESS, Outcome
from ..wire.outcome import decode as decode_result


def chord_arguments(app: App, message: Message) -> tuple[tuple[Any, ...], Outcome | None]:
    """For a chord's callback about to run: its arguments with the members' results in front, or
    the FAILURE it ends with (a member failed, or its result expired) without running."""
    chord_id = message.options.chord_of
    assert chord_id is not None
    where = _members(app, chord_id)
    if where is None:
        error = ChordError(f"the list of the chord's members has expired (RESULT_EXPIRES); the callback "
                           f"{message.task}[{message.id}] did not run")
        return message.args, Outcome(FAILURE, exception=error, traceback=f"ChordError: {error}")
    ids = list(_flat(where))
    metas = {}
    for member_id, raw in zip(ids, _results(app, ids), strict=True):
        meta = decode_result(raw, app.config.accept_content, app.config.signing_keys) if raw is not None else None
        if meta is None or meta.status != SUCCESS:
            what = ("has no result (expired: RESULT_EXPIRES)" if meta is None
                    else f"ended {meta.status}: {type(meta.exception).__name__}: {meta.exception}"
                    if meta.exception is not None else f"ended {meta.status}")
            error = ChordError(f"member {meta.task if meta else ''}[{member_id}] of the chord {what}; "
                               "the callback did not run")
            return message.args, Outcome(FAILURE, exception=error, traceback=f"ChordError: {error}")
        metas[member_id] = meta.value
    values = _nested(where, metas)
    if message.options.chord_pass:
        return (values, *message.args), None
    return message.args, None


def _others(app: App) -> list[int]:
    """The shards other than this process's, in order: where a join's list and its members' results
    are looked for when they are not here (a workflow over several shards)."""
    return [shard for shard in range(app.config.shards) if shard != app.home]


def _members(app: App, chord_id: str) -> list[Any] | None:
    """A join's list of members: written on one shard when the workflow was sent (canvas.py), the
    shard of its first message, which need not be the callback's."""
    where = app.broker.results.chord_members(chord_id)
    for shard in _others(app) if where is None else ():
        where = app.brokers[shard].results.chord_members(chord_id)
        if where is not None:
            break
    return where


def _results(app: App, ids: list[str]) -> list[bytes | None]:
    """The members' stored results, each read on the shard that has it: its own queue's (a member
    on another shard than the callback's), or where a step that never ran was marked (never_run)."""
    found = app.broker.results.get_many(ids)
    for shard in _others(app):
        missing = [i for i, raw in enumerate(found) if raw is None]
        if not missing:
            break
        for i, raw in zip(missing, app.brokers[shard].results.get_many([ids[i] for i in missing]), strict=True):
            found[i] = raw
    return found


def _flat(where: list[Any]) -> Iterator[str]:
    """The ids in a chord's list of members (workflow.gathered: a group's members are a list)."""
    for one in where:
        if isinstance(one, list):
            yield from _flat(one)
        else:
            yield one


def _nested(where: list[Any], values: dict[str, Any]) -> list[Any]:
    return [_nested(one, values) if isinstance(one, list) else values[one] for one in where]
