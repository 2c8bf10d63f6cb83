"""A task message, and every text form it takes in Redis, built and read here and nowhere else.

On the wire a message is one string:

    <enqueued, µs, 13 hex>|<deliveries>|<task id>|<task name>|<envelope JSON>

The header is plain text so that Lua scripts can read the id and count deliveries without decoding
JSON, and so that a sorted set with one score per priority keeps messages of equal priority in
enqueue order (members with equal scores sort by their bytes, and the header starts with the time).
The envelope is always JSON, safe to decode; it carries the arguments inline when the content type is
JSON, or as an opaque string for any other content type, which is decoded only if accepted.

Every waiting message is a member of a sorted set, and Redis keeps it in an allocation of the next
size up (48, 64, 80, 96 bytes...) beside about 95 bytes of its own per member: so the wire says
nothing it need not. The envelope leaves out what has its default (content type JSON, priority 0,
no keyword arguments); one that would hold only the positional arguments is just their JSON array.
An id in the usual UUID form, the largest part of a plain message, travels as "~" and 22 characters
(compact_id; lua/lib/wire.lua reads it back). The time takes 13 hex digits (µs until the year 2112),
not the 16 the format had before: such older messages start with "000", so they still sort before
the newer ones of their priority, and both forms are read. Not the other way round: a worker older
than this format cannot read these messages (it moves them to the dead letters, from where they can
be requeued), so in a deploy the workers go first.

Where a message waits with its queue, it is an entry "<score>|<queue>|<wire>" (the scheduled set,
the in-flight hash, where "!" in front marks one acknowledged as it started: lua/ack_early.lua);
handed to an idle consumer, "<seq>|<queue>|<wire>" (its inbox). The Lua scripts read the same forms.
"""

from __future__ import annotations

import base64
import dataclasses
import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import DecodeError, EncodeError
from .names import MAX_PRIORITY
from .serializers import (
    MAX_DEPTH,
    check_nesting,
    decode_value,
    explain_args,
    json_dumps,
    json_loads,
    may_nest_deeper,
    pickle_dumps,
    refuse_model_instances,
)
from .workflow import Chain, Chord, ChordSpec, Group, Node, Step, from_wire, to_wire


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
    #: The rest of this step's chain (steps; the last may be a group or a chord: workflow.canonical).
    chain: tuple[Node, ...] = ()
    #: The join this step's branch ends in: the chord (or the group something waits for) it is part of.
    chord: ChordSpec | None = None
    #: This is a chord's callback: the chord's id, and whether the members' results go in front.
    chord_of: str | None = None
    chord_pass: bool = True
    #: Put back once by a rate limit (lua/rate.lua): it waits for the budget, not behind new calls.
    rate_waited: bool = False
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


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    task: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    queue: str = "default"
    priority: int = 0
    #: When it may run: `countdown` seconds after it reaches Redis (by Redis's clock: a sender whose
    #: clock is off does not move it), or at `eta`, a unix time (s) read on Redis's clock; None = now.
    eta: float | None = None
    countdown: float | None = None
    #: Not started after `expires_in` seconds from reaching Redis (Redis's clock), or after
    #: `expires`, a unix time (s). Enforced by Redis when the message is taken (lua/fetch.lua).
    expires: float | None = None
    expires_in: float | None = None
    retries: int = 0
    content_type: str = "json"
    options: MessageOptions = NO_MESSAGE_OPTIONS
    #: Unix time (s) it was first enqueued; set from the wire header.
    enqueued_at: float = 0.0
    #: How often it was handed to a worker before and handed back (lease lost, shutdown).
    deliveries: int = 0

    @property
    def score(self) -> int:
        """Sort key inside a queue: lower pops first, so priority 9 scores 0."""
        return MAX_PRIORITY - self.priority

    def replace(self, **changes: Any) -> Message:
        return dataclasses.replace(self, **changes)

    @property
    def delayed(self) -> bool:
        return self.eta is not None or bool(self.countdown and self.countdown > 0)

    def due(self) -> str:
        """When it may run, as the scripts take it (lib/clock.lua at_ms): '' now, '+<ms>' after a
        delay counted on Redis's clock, '<ms>' at an absolute unix time."""
        if self.countdown and self.countdown > 0:
            return f"+{int(self.countdown * 1000)}"
        if self.eta is not None:
            return str(int(self.eta * 1000))
        return ""

    def expiry(self) -> str:
        """Its expiry, as due() says its due time ('' = none)."""
        if self.expires_in is not None:
            return f"+{max(0, int(self.expires_in * 1000))}"
        if self.expires is not None:
            return str(int(self.expires * 1000))
        return ""

    def encode(self) -> str:
        env = self._envelope()
        if self.content_type != "json":
            refuse_model_instances(self.args, self.kwargs, self.task)
            try:
                env["b"] = pickle_dumps((self.args, self.kwargs))
            except RecursionError as exc:
                raise EncodeError(f"{self.task}: the arguments are nested too deeply to be pickled") from exc
            except Exception as exc:  # pickle raises a zoo of errors for unpicklable objects
                raise EncodeError(f"{self.task}: the arguments cannot be pickled: {exc}") from exc
        try:
            # The arguments alone (or nothing at all): just their array, the commonest message.
            body = json_dumps(list(self.args) if not env.keys() - {"a"} else env)
        except EncodeError:
            raise
        except (TypeError, ValueError, AttributeError, RecursionError) as exc:
            self._check_nesting()  # a workflow's step nested too deeply: named
            raise explain_args(self.args, self.kwargs, self.task) from exc
        if may_nest_deeper(body):  # nearly never: only with over MAX_DEPTH brackets in all
            self._check_nesting()
        enqueued_us = int((self.enqueued_at or time.time()) * 1_000_000)
        return f"{enqueued_us:013x}|{self.deliveries}|{compact_id(self.id)}|{self.task}|{body}"

    def _check_nesting(self) -> None:
        """EncodeError naming the first argument, of this call or of a step of its workflow, nested
        deeper than MAX_DEPTH or containing itself: refused here, rather than by a worker later."""
        if self.content_type == "json":
            check_nesting(self.args, self.kwargs, self.task)
        for step in _steps(self.options):
            check_nesting(step.args, step.kwargs, f"{self.task}: its workflow's step {step.task}")

    def _envelope(self) -> dict[str, Any]:
        """What is not a default, by its short key (decode() reads a missing key as its default)."""
        env: dict[str, Any] = {}
        if self.content_type != "json":
            env["ct"] = self.content_type
        if self.priority:
            env["p"] = self.priority
        if self.content_type == "json" and self.args:
            env["a"] = self.args
        if self.content_type == "json" and self.kwargs:
            env["k"] = self.kwargs
        if self.eta is not None:
            env["eta"] = self.eta
        if self.countdown is not None:
            env["cd"] = self.countdown
        # "xp" also marks, for the scripts, a message that has an expiry entry (lua/fetch.lua).
        if self.expires_in is not None:
            env["xp"] = {"in": self.expires_in}
        elif self.expires is not None:
            env["xp"] = {"at": self.expires}
        if self.retries:
            env["r"] = self.retries
        options = self.options.to_json()
        if options:
            env["o"] = options
        return env

    def entry(self) -> str:
        """It as it waits in the scheduled set: "<score>|<queue>|<wire>"."""
        return f"{self.score}|{self.queue}|{self.encode()}"


def _steps(options: MessageOptions) -> Iterator[Step]:
    """Every step a message's workflow carries (its chain, callbacks, chord), without recursion."""
    nodes: list[Any] = [*options.chain, *options.link, *options.link_error]
    chord = options.chord
    while chord is not None:
        if chord.callback is not None:
            nodes.append(chord.callback)
        chord = chord.after
    while nodes:
        node = nodes.pop()
        if isinstance(node, Step):
            yield node
            nodes.extend(node.options.link or ())
            nodes.extend(node.options.link_error or ())
        elif isinstance(node, Chain):
            nodes.extend(node.steps)
        elif isinstance(node, Group):
            nodes.extend(node.members)
        elif isinstance(node, Chord):
            nodes.extend(node.header)
            nodes.append(node.body)


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def compact_id(task_id: str) -> str:
    """A UUID as 23 characters: "~", its first 15 bytes in base64url (20), its last in hex (2), so
    that Lua turns it back with 5 lookups of 24 bits (lib/wire.lua). "~" is not allowed in an id
    (names.check_name): any other id travels as it is. Only the lower-case form, str(uuid4()), is
    compacted: full_id() must give back the very string."""
    if len(task_id) != 36 or not _UUID.fullmatch(task_id):
        return task_id
    hex_ = task_id.replace("-", "")
    return "~" + base64.urlsafe_b64encode(bytes.fromhex(hex_[:30])).decode("ascii") + hex_[30:]


def full_id(wire_id: str) -> str:
    """The id compact_id() wrote, as it was given."""
    if len(wire_id) != 23 or not wire_id.startswith("~"):
        return wire_id
    h = base64.urlsafe_b64decode(wire_id[1:21]).hex() + wire_id[21:]
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class Header:
    """The plain-text part of a wire message, readable even when the envelope is not."""

    __slots__ = ("enqueued_at", "deliveries", "id", "task", "envelope")

    def __init__(self, wire: str) -> None:
        try:
            enq, deliveries, wire_id, self.task, self.envelope = wire.split("|", 4)
            self.id = full_id(wire_id)
            self.enqueued_at = int(enq, 16) / 1_000_000
            self.deliveries = int(deliveries)
        except ValueError as exc:
            raise DecodeError(f"not a jobs message (bad header): {wire[:120]!r}") from exc

    def fields(self) -> dict[str, Any]:
        """The envelope as a dict, whichever form it was sent in (a bare array: the arguments alone)."""
        try:
            env = json_loads(self.envelope)
        except RecursionError as exc:
            raise DecodeError(f"message {self.id} ({self.task}) is nested too deeply to be read: lists and dicts may "
                              f"nest at most {MAX_DEPTH} levels (MAX_DEPTH) in its arguments") from exc
        if isinstance(env, list):
            return {"a": env}
        if not isinstance(env, dict):
            raise ValueError(f"an envelope is an object or an array, not {type(env).__name__}")
        return env

    @staticmethod
    def describe(wire: bytes) -> str:
        """"name[id]" from a wire's header alone, for a log line about a message not decoded."""
        parts = bytes(wire[:400]).split(b"|", 4)
        if len(parts) < 5:
            return "an unreadable message"
        return f"{parts[3].decode('utf-8', 'replace')}[{full_id(parts[2].decode('utf-8', 'replace'))}]"


def parse_entry(entry: bytes) -> tuple[bytes, str, bytes]:
    """(score, queue, wire) of an entry of the scheduled set or the in-flight hash."""
    if entry.startswith(b"!"):  # acknowledged as it started (lua/ack_early.lua): the same message
        entry = entry[1:]
    score, queue, wire = entry.split(b"|", 2)
    return score, queue.decode(), wire


def parse_handed(element: bytes) -> tuple[int, str, bytes]:
    """(seq, queue, wire) of a message handed to an idle consumer (lua/lib/deliver.lua)."""
    seq, queue, wire = element.split(b"|", 2)
    return int(seq), queue.decode(), wire


def decode(wire: str | bytes, queue: str, accept: tuple[str, ...]) -> Message:
    """Read a wire message; DecodeError (with .header when the header could be read) otherwise."""
    if isinstance(wire, bytes):
        try:
            wire = wire.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError(f"message is not UTF-8: {exc}") from exc
    header = Header(wire)
    try:
        env = header.fields()
        content_type = env.get("ct", "json")
        if content_type == "json":
            args, kwargs = env.get("a", ()), env.get("k", {})
            if may_nest_deeper(header.envelope):  # sent by hand, or by a version without the limit
                check_nesting(args, kwargs, f"message {header.id} ({header.task})", DecodeError)
        else:
            args, kwargs = decode_value(env["b"], content_type, accept)
        if "json" not in accept and content_type == "json":
            decode_value(None, "json", accept)  # raises ContentDisallowed
        xp = env.get("xp")
        options = MessageOptions.from_json(env["o"]) if env.get("o") else NO_MESSAGE_OPTIONS
        _check_fields(env, options)
        if env.get("alone"):
            # A dead letter requeued after its burial ended its workflow (lua/dead_requeue.lua): what
            # followed it has its result already, so it runs as a task of its own.
            options = options.replace(chain=(), chord=None)
        return Message(
            id=header.id,
            task=header.task,
            args=tuple(args),
            kwargs=kwargs,
            queue=queue,
            priority=env.get("p", 0),
            eta=env.get("eta"),
            countdown=env.get("cd"),
            expires=xp.get("at") if xp else env.get("exp"),  # "exp": messages of jobs < 0.2
            expires_in=xp.get("in") if xp else None,
            retries=env.get("r", 0),
            content_type=content_type,
            options=options,
            enqueued_at=header.enqueued_at,
            deliveries=header.deliveries,
        )
    except DecodeError as exc:
        exc.header = header  # type: ignore[attr-defined]
        raise
    except RecursionError as exc:  # a workflow nested too deeply (read by recursion)
        error = DecodeError(f"message {header.id} ({header.task}) is nested too deeply to be read")
        error.header = header  # type: ignore[attr-defined]
        raise error from exc
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        error = DecodeError(f"message {header.id} ({header.task}) has a broken envelope: {exc}")
        error.header = header  # type: ignore[attr-defined]
        raise error from exc


#: What the worker reads from an envelope as a number: (key or option, the test, what it must be).
_FIELD_RULES: tuple[tuple[str, Any, str], ...] = (
    ("p", lambda v: _is_int(v) and 0 <= v <= MAX_PRIORITY, f"an int from 0 to {MAX_PRIORITY}"),
    ("r", lambda v: _is_int(v) and v >= 0, "an int, 0 or more"),
    ("eta", lambda v: _is_finite(v), "a number (unix time)"),
    ("cd", lambda v: _is_finite(v), "a number of seconds"),
    ("exp", lambda v: _is_finite(v), "a number (unix time)"),
)
_OPTION_RULES: tuple[tuple[str, Any, str], ...] = (
    ("time_limit", lambda v: _is_finite(v) and v > 0, "a positive number of seconds"),
    ("soft_time_limit", lambda v: _is_finite(v) and v > 0, "a positive number of seconds"),
    ("unique_ms", lambda v: _is_int(v) and v >= 0, "an int, 0 or more"),
    ("unknown_since", lambda v: _is_finite(v), "a number (unix time)"),
    ("unknown_tries", lambda v: _is_int(v) and v >= 0, "an int, 0 or more"),
)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_fields(env: dict[str, Any], options: MessageOptions) -> None:
    """A message no sender of ours writes (by hand, by another program, or corrupted) is refused here,
    saying which field, so that it goes to the dead letters with the reason: read on, a text where a
    number belongs would fail later inside the worker, past the point where a message is set aside."""
    if "a" in env and not isinstance(env["a"], list):
        raise TypeError(f"its arguments (\"a\") are {type(env['a']).__name__}, not a list")
    if len(env) > 1:  # more than the arguments alone (most messages are just those)
        if not isinstance(env.get("k", {}), dict):
            raise TypeError(f"its keyword arguments (\"k\") are {type(env['k']).__name__}, not an object")
        for key, valid, what in _FIELD_RULES:
            if env.get(key) is not None and not valid(env[key]):
                raise ValueError(f"{key!r} is {env[key]!r}, not {what}")
        xp = env.get("xp")
        if xp is not None and not (isinstance(xp, dict) and all(_is_finite(v) for v in xp.values())):
            raise ValueError(f"its expiry (\"xp\") is {xp!r}, not {{\"in\" or \"at\": a number}}")
    if options is NO_MESSAGE_OPTIONS:
        return
    for name, valid, what in _OPTION_RULES:
        value = getattr(options, name)
        if value is not None and not valid(value):
            raise ValueError(f"option {name} is {value!r}, not {what}")


def within(message: Message, wire: str, max_bytes: int) -> str:
    """`wire`, the encoded `message`, if it fits in JOBS["MESSAGE_MAX_BYTES"]; else EncodeError,
    naming the task and its largest argument. Counted in UTF-8 bytes, as Redis keeps it, and only
    measured when it could be too long (a character takes at most 4 bytes): nothing for most."""
    if len(wire) * 4 <= max_bytes:
        return wire
    size = len(wire.encode("utf-8", "surrogatepass"))
    if size <= max_bytes:
        return wire
    largest = ""
    if message.content_type == "json":
        places = [(f"args[{i}]", v) for i, v in enumerate(message.args)]
        places += [(f"kwargs[{k!r}]", v) for k, v in message.kwargs.items()]
        sizes = [(len(json_dumps(v).encode("utf-8", "surrogatepass")), where) for where, v in places]
        if sizes:
            n, where = max(sizes)
            largest = f"; the largest argument is {where}, {n:,} bytes of JSON"
    raise EncodeError(f"{message.task}: its message would be {size:,} bytes, over JOBS['MESSAGE_MAX_BYTES'] "
                      f"({max_bytes:,}){largest}. Send a reference to the data (a primary key, a file or storage "
                      "path) rather than the data, or raise MESSAGE_MAX_BYTES.")
