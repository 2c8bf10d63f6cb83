"""The worker's side of workflows (canvas.py): what follows a settled step, applied by lib/ack.lua in
the same atomic step as its acknowledgement, and the arguments of a chord's callback."""

from __future__ import annotations

from typing import Any

from ..canvas import ChordError, Signature, _members_key
from ..message import Message
from ..results import FAILURE, READY_STATES, REVOKED, SUCCESS, Outcome
from ..results import decode as decode_result
from ..results import encode as encode_result
from ..serializers import json_dumps, json_loads


def follow_up(app: Any, message: Message, outcome: Outcome, hostname: str) -> str:
    """The JSON `extra` of a settled run's Ack: what else happens in the same atomic step (see
    lib/ack.lua). '' for a plain task, and for a retry (the same run goes on)."""
    options = message.options
    if outcome.status not in READY_STATES:
        return ""
    expiring = message.expires is not None or message.expires_in is not None
    if not (expiring or "chain" in options or "chord" in options or "unique" in options):
        return ""

    keys = app.broker.keys
    extra: dict[str, Any] = {}
    rest = [Signature.from_dict(d) for d in options.get("chain", ())]
    if rest:
        failed = outcome if outcome.status != SUCCESS else None
        if failed is None:
            try:
                nxt = rest[0].clone((outcome.value,)).message(
                    {"chain": [s.to_dict() for s in rest[1:]]} if len(rest) > 1 else None)
                extra["f"] = [_entry(keys, nxt)]
            except Exception as exc:  # the value cannot travel as an argument (EncodeError, ...)
                failed = Outcome(FAILURE, exception=exc, traceback=f"{type(exc).__name__}: {exc}")
        if failed is not None:
            extra["r"] = [_failed_result(app, keys, step, failed, message, hostname) for step in rest]
    if "unique" in options:  # a unique task's run ended: its lock goes (enqueue_unique.lua)
        extra["u"] = [options["unique"], message.id]
    if expiring:  # its expiry entry is not needed any more (lua/fetch.lua)
        extra["x"] = [keys.expiries, message.id]
    chord_spec = options.get("chord")
    if chord_spec:
        callback = Signature.from_dict(chord_spec["cb"])
        cb = callback.message({"chord_of": chord_spec["id"], "chord_pass": not callback.immutable})
        extra["c"] = {"k": f"{keys.base}chord:{chord_spec['id']}", "m": message.id, "n": chord_spec["n"],
                      "t": int(app.config.result_expires * 1000), "f": _entry(keys, cb)}
    return json_dumps(extra)


def _entry(keys: Any, message: Message) -> dict[str, Any]:
    """A message to send, as lib/ack.lua's enqueue_now takes it (due times and expiries put on
    Redis's clock there)."""
    wire = message.encode()
    entry: dict[str, Any]
    if message.delayed:
        entry = {"k": keys.scheduled, "w": keys.wake(message.queue), "s": message.due(), "d": 1,
                 "m": f"{message.score}|{message.queue}|{wire}"}
    else:
        entry = {"k": keys.queue(message.queue), "w": keys.wake(message.queue), "s": message.score, "m": wire}
    if message.expiry():
        entry["x"] = [keys.expiries, message.id, message.expiry()]
    return entry


def _failed_result(app: Any, keys: Any, step: Signature, failed: Outcome, message: Message,
                   hostname: str) -> list[str]:
    why = (f"{failed.traceback or ''}\n(not run: step {message.task}[{message.id}] of its chain "
           f"{'was revoked' if failed.status == REVOKED else 'failed'})")
    outcome = Outcome(FAILURE, exception=failed.exception or ChordError(failed.reason or "revoked"), traceback=why)
    payload = encode_result(outcome, step.task, app.config.result_serializer, hostname)
    return [keys.result(step.id), keys.done(step.id), payload]


def chord_arguments(app: Any, message: Message) -> tuple[tuple[Any, ...], Outcome | None]:
    """For a chord's callback about to run: its arguments with the members' results in front, or
    the FAILURE it ends with (a member failed, or its result expired) without running."""
    keys = app.broker.keys
    stored = app.broker.link.call("GET", _members_key(keys, message.options["chord_of"]))
    if stored is None:
        error = ChordError(f"the list of the chord's members has expired (RESULT_EXPIRES); the callback "
                           f"{message.task}[{message.id}] did not run")
        return message.args, Outcome(FAILURE, exception=error, traceback=f"ChordError: {error}")
    ids = json_loads(stored)
    raws = app.broker.link.call("MGET", *[keys.result(i) for i in ids])
    values = []
    for member_id, raw in zip(ids, raws, strict=True):
        meta = decode_result(raw, app.config.accept_content) if raw is not None else None
        if meta is None or meta.status != SUCCESS:
            what = ("has no result (expired: RESULT_EXPIRES)" if meta is None
                    else f"ended {meta.status}: {type(meta.exception).__name__}: {meta.exception}"
                    if meta.exception is not None else f"ended {meta.status}")
            error = ChordError(f"member {meta.task if meta else ''}[{member_id}] of the chord {what}; "
                               "the callback did not run")
            return message.args, Outcome(FAILURE, exception=error, traceback=f"ChordError: {error}")
        values.append(meta.value)
    if message.options.get("chord_pass", True):
        return (values, *message.args), None
    return message.args, None
