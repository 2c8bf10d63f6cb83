"""A task message, built and read here and nowhere else (the plain-text parts of its forms in Redis,
which the Lua scripts read too, are header.py).

The envelope, after the header (header.py), is always JSON, safe to decode; it carries the arguments
inline when the content type is JSON, or as an opaque string for any other content type, which is
decoded only if accepted. What a read envelope may hold is checked by envelope.py.

Every waiting message is a member of a sorted set, and Redis keeps it in an allocation of the next
size up (48, 64, 80, 96 bytes...) beside about 95 bytes of its own per member: so the wire says
nothing it need not. The envelope leaves out what has its default (content type JSON, priority 0,
no keyword arguments); one that would hold only the positional arguments is just their JSON array,
and an id in the usual UUID form travels compacted (header.compact_id).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import DecodeError, EncodeError
from .arguments import check_nesting, explain_args, may_nest_deeper, refuse_model_instances
from .envelope import check_envelope, check_options
from .header import Header, compact_id
from .message_options import NO_MESSAGE_OPTIONS, MessageOptions
from .names import MAX_PRIORITY
from .sealing import open_arguments, seal_arguments
from .serializers import decode_value, json_dumps, pickle_dumps
from .signing import sign, verify
from .workflow import carried


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
    #: @task(encrypt=True): its arguments travel sealed with the signing keys (sealing.py).
    encrypted: bool = False
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

    def encode(self, key: bytes | None = None) -> str:
        """The wire, signed with `key` (the first of JOBS["SIGNING_KEYS"], Config.signing_key) if given."""
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
            if self.encrypted:  # @task(encrypt=True): the arguments sealed (sealing.py)
                env.update(b=seal_arguments(self.args, self.kwargs, env.get("b"), key, self.sealed_for), e=1)
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
        return sign(f"{enqueued_us:013x}", self.deliveries, f"{compact_id(self.id)}|{self.task}|{body}", key)

    @property
    def sealed_for(self) -> str:
        """What its sealed arguments belong to (sealing.py's associated data): this message alone."""
        return f"message {self.id} ({self.task})"

    def _check_nesting(self) -> None:
        """EncodeError naming the first argument, of this call or of a step of its workflow, nested
        deeper than MAX_DEPTH or containing itself: refused here, rather than by a worker later."""
        if self.content_type == "json":
            check_nesting(self.args, self.kwargs, self.task)
        options = self.options
        for step in carried([*options.chain, *options.link, *options.link_error], options.chord):
            check_nesting(step.args, step.kwargs, f"{self.task}: its workflow's step {step.task}")

    def _envelope(self) -> dict[str, Any]:
        """What is not a default, by its short key (decode() reads a missing key as its default)."""
        env: dict[str, Any] = {}
        if self.content_type != "json":
            env["ct"] = self.content_type
        if self.priority:
            env["p"] = self.priority
        plain = self.content_type == "json" and not self.encrypted
        if plain and self.args:
            env["a"] = self.args
        if plain and self.kwargs:
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

    def entry(self, key: bytes | None = None) -> str:
        """It as it waits in the scheduled set: "<score>|<queue>|<wire>"."""
        return f"{self.score}|{self.queue}|{self.encode(key)}"


def decode(wire: str | bytes, queue: str, accept: tuple[str, ...], keys: Sequence[bytes] = ()) -> Message:
    """Read a wire message; DecodeError (with .header when the header could be read) otherwise. With
    `keys` (JOBS["SIGNING_KEYS"]), BadSignature unless one signed it, before its envelope is read."""
    raw = wire
    if isinstance(wire, bytes):
        try:
            wire = wire.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError(f"message is not UTF-8: {exc}") from exc
    header = Header(wire)  # plain text, split: not a jobs message, no signature to check
    verify(raw, keys)
    try:
        env = header.fields()
        content_type = env.get("ct", "json")
        if env.get("e"):  # sealed (sealing.py): opened with the keys, or DecodeError
            args, kwargs = open_arguments(env.get("b"), content_type, accept, keys, f"message {header.id} "
                                          f"({header.task})")
        elif content_type == "json":
            args, kwargs = env.get("a", ()), env.get("k", {})
            if may_nest_deeper(header.envelope):  # sent by hand, or by a version without the limit
                check_nesting(args, kwargs, f"message {header.id} ({header.task})", DecodeError)
        else:
            args, kwargs = decode_value(env["b"], content_type, accept)
        if "json" not in accept and content_type == "json":
            decode_value(None, "json", accept)  # raises ContentDisallowed
        xp = env.get("xp")
        options = MessageOptions.from_json(env["o"]) if env.get("o") else NO_MESSAGE_OPTIONS
        check_envelope(env)
        if options is not NO_MESSAGE_OPTIONS:
            check_options(options)
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
            encrypted=bool(env.get("e")),
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

