"""The one cattrs converter: user values in and out of JSON, and journal records."""

from __future__ import annotations

import dataclasses
import inspect
import json
import typing
from collections.abc import Callable
from typing import Any

import attrs
import cattrs
from cattrs.preconf.json import make_converter
from cattrs.v import format_exception

from ._errors import InvalidInput

converter = make_converter(detailed_validation=True, forbid_extra_keys=True)


def to_json_value(value: Any) -> Any:
    """Unstructure a user value (attrs class, dataclass, datetime, ...) into plain JSON data."""
    return converter.unstructure(value)


def from_json_value(data: Any, type_: Any, *, path: str) -> Any:
    """Structure plain JSON data into ``type_``; a mismatch is ``InvalidInput`` naming the field."""
    if type_ is inspect.Parameter.empty or type_ is Any:
        return data
    if _has_fields(type_) and not isinstance(data, dict):  # cattrs names no type up here
        raise InvalidInput([f"expected an object, got {_json_kind(data)} @ {path}"])
    try:
        return converter.structure(data, type_)
    except Exception as exc:  # cattrs raises what the hooks raise (AttributeError, ...)
        raise InvalidInput(
            cattrs.transform_error(exc, path=path, format_exception=_format)
        ) from exc


_JSON_KINDS = {type(None): "null", bool: "a boolean", int: "a number", float: "a number"}
_JSON_KINDS |= {str: "a string", list: "an array", dict: "an object"}


def _format(exc: BaseException, type_: Any) -> str:
    """cattrs' wording, plus the message of a failing validator ("amount must be > 0").

    Where a class with fields (attrs, dataclass) was given something that is not an object,
    cattrs fails looking up its keys: that reads "expected an object, got null", not as the
    ``AttributeError`` it raised.
    """
    if isinstance(exc, AttributeError) and _has_fields(type_) and hasattr(exc, "obj"):
        return f"expected an object, got {_json_kind(exc.obj)}"
    text = format_exception(exc, type_)
    if type(exc) is ValueError and str(exc):
        return f"{text}: {exc}"
    return text


def _json_kind(value: Any) -> str:
    return _JSON_KINDS.get(type(value), type(value).__name__)


def _has_fields(type_: Any) -> bool:
    return isinstance(type_, type) and (attrs.has(type_) or dataclasses.is_dataclass(type_))


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


_JSON_SCALARS = frozenset({str, int, bool, type(None)})


def check_json(value: Any) -> None:
    """Raise what ``dumps`` would raise if ``value`` is not JSON data, without encoding it
    when it plainly is: a string, an int, a bool, None, or a flat list or string-keyed dict
    of those (floats are encoded: NaN and infinities are refused)."""
    kind = type(value)
    if kind in _JSON_SCALARS:
        return
    if kind is list and all(type(item) in _JSON_SCALARS for item in value):
        return
    if kind is dict and all(
        type(key) is str and type(item) in _JSON_SCALARS for key, item in value.items()
    ):
        return
    dumps(value)


def loads(text: str) -> Any:
    return json.loads(text)


def parameter_types(fn: Callable[..., Any]) -> list[inspect.Parameter]:
    """The positional-or-keyword parameters of ``fn`` with annotations resolved."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        hints = {}
    params = []
    for p in inspect.signature(fn).parameters.values():
        params.append(p.replace(annotation=hints.get(p.name, inspect.Parameter.empty)))
    return params


def return_type(fn: Callable[..., Any]) -> Any:
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        return Any
    return hints.get("return", Any)
