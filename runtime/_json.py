"""JSON text: compact and key-ordered, so that equal values encode to equal text.

Below the converter and both of its sides: unstructuring a set orders its items by their text.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True, allow_nan=False)


def _not_json(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _make_fast_encoder() -> Callable[[Any], str] | None:
    """The C encoder of the ``json`` module, made once instead of on every call.

    ``json.JSONEncoder.encode`` builds a fresh one per call (with a dict of the containers
    seen, to detect cycles); this one skips both: a cycle ends in ``RecursionError``, turned
    into a ``ValueError`` as the standard encoder raises for a cycle. None where the C encoder
    is missing or takes other arguments (another Python implementation or version).
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return None
    try:
        encoder = make(
            None,
            _not_json,
            json.encoder.encode_basestring_ascii,
            None,
            ":",
            ",",
            True,
            False,
            False,
        )
        if "".join(encoder({"b": [1.5, None], "a": "\u00e9"}, 0)) != _ENCODER.encode(
            {"b": [1.5, None], "a": "\u00e9"}
        ):
            return None
    except Exception:
        return None

    def encode(data: Any) -> str:
        if isinstance(data, str):
            return json.encoder.encode_basestring_ascii(data)
        try:
            return "".join(encoder(data, 0))
        except RecursionError:
            raise ValueError("the value is circular or nested too deeply") from None

    return encode


_FAST_ENCODE = _make_fast_encoder()


def dumps(data: Any) -> str:
    """Compact, key-ordered JSON text, so equal values encode to equal text."""
    if _FAST_ENCODE is not None:
        return _FAST_ENCODE(data)
    return _ENCODER.encode(data)


def loads(text: str) -> Any:
    return json.loads(text)
