"""Encrypted arguments and results (@task(encrypt=True)): for a task whose arguments must not be read
by whoever can read Redis (a card token, a personal number), they travel and are stored sealed with
AES-256-GCM, and only a process with the keys reads them.

The keys are JOBS["SIGNING_KEYS"], each turned into an encryption key of its own (HMAC-SHA256 of a
label: a key never signs and encrypts with the same bytes), so they rotate as the signing keys do:
sealed with the first, opened with whichever opens it. A sealed value is base64 of a fresh 96-bit
nonce followed by the ciphertext and its tag; its "associated data" is what it belongs to (the
message's id and task, or the result's task id), so a sealed value moved to another message or
result does not open there.

What is sealed: a message's arguments and keyword arguments (message.py, the envelope's "b" with
"e": 1) and a task's result value (outcome.py). What shows them shows "encrypted" instead: extended
results and the task history (settle.run_about), the console. What is not: the task's name and id,
its options, a failure's exception message and traceback, and what the task itself logs or sends.

The `cryptography` package is needed only where an encrypted task is sent or run (the "encrypt" extra).
"""

from __future__ import annotations

import base64
import functools
import hmac
import os
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigurationError, DecodeError, EncodeError, Encrypted
from .arguments import check_nesting
from .serializers import decode_value, json_dumps, json_loads

#: What is shown, stored and logged instead of a sealed value.
SHOWN = "encrypted"
_LABEL = b"jobs.engine.wire.sealing: AES-256-GCM"
_NONCE = 12


@functools.lru_cache(maxsize=16)
def _cipher(signing_key: bytes) -> Any:
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # optional: the "encrypt" extra
    except ImportError as exc:
        raise ConfigurationError("@task(encrypt=True) needs the cryptography package: "
                                 "pip install 'django-jobs[encrypt]'") from exc
    return AESGCM(hmac.digest(signing_key, _LABEL, "sha256"))


def seal(plain: bytes, key: bytes | None, about: str) -> str:
    """`plain` sealed with the encryption key of `key` (the first signing key), for `about`."""
    if key is None:
        raise EncodeError(f"{about}: its task is encrypt=True, which needs JOBS['SIGNING_KEYS'] (it is []): the "
                          "keys encrypt too")
    nonce = os.urandom(_NONCE)
    return base64.b64encode(nonce + _cipher(key).encrypt(nonce, plain, about.encode())).decode("ascii")


def unseal(sealed: Any, keys: Sequence[bytes], about: str) -> bytes:
    """What seal() sealed for `about`, opened with whichever of `keys` sealed it; DecodeError if none."""
    try:
        from cryptography.exceptions import InvalidTag  # optional: the "encrypt" extra
    except ImportError as exc:
        raise DecodeError(f"{about}: it is encrypted, and the cryptography package is not installed here") from exc
    try:
        raw = base64.b64decode(sealed, validate=True)
    except (TypeError, ValueError) as exc:
        raise DecodeError(f"{about}: its encrypted value is not base64") from exc
    for key in keys:
        try:
            return bytes(_cipher(key).decrypt(raw[:_NONCE], raw[_NONCE:], about.encode()))
        except InvalidTag:
            continue
    raise Encrypted(f"{about}: its encrypted value opens with no key of JOBS['SIGNING_KEYS']"
                    + ("" if keys else " given here"))


def seal_arguments(args: tuple[Any, ...], kwargs: dict[str, Any], pickled: str | None, key: bytes | None,
                   about: str) -> str:
    """A message's arguments sealed (the envelope's "b"): as they would travel (their JSON array and
    object, or `pickled`, their pickle), then encrypted."""
    inner = pickled if pickled is not None else json_dumps([list(args), kwargs])
    return seal(inner.encode("utf-8", "surrogatepass"), key, about)


def open_arguments(sealed: Any, content_type: str, accept: tuple[str, ...], keys: Sequence[bytes],
                   about: str) -> tuple[Any, Any]:
    """(args, kwargs) of sealed arguments, checked as a message's are (envelope.py)."""
    if content_type not in accept:
        decode_value(None, content_type, accept)  # ContentDisallowed, before anything is opened
    inner = unseal(sealed, keys, about).decode("utf-8")
    if content_type != "json":
        return decode_value(inner, content_type, accept)  # type: ignore[no-any-return]
    opened = json_loads(inner)
    if not (isinstance(opened, list) and len(opened) == 2 and isinstance(opened[0], list)
            and isinstance(opened[1], dict)):
        raise DecodeError(f"{about}: its encrypted arguments are not [args, kwargs]")
    check_nesting(opened[0], opened[1], about, DecodeError)
    return opened[0], opened[1]
