"""What each type's JSON looks like: its kinds, its description in messages, and the
hooks of the types that hold no other type (strings, numbers, dates, ``Any``).

Data reaches a hook as ``json.loads`` gives it, and the checks are on exact types: a
``bool`` is not an ``int`` here, a ``float`` is not an ``int`` even when whole.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import inspect
import json
import re
import types
import typing
import uuid
from collections.abc import (
    Callable,
    Iterable,
    Mapping,
    MutableMapping,
    MutableSequence,
    MutableSet,
    Sequence,
)
from collections.abc import Set as AbstractSet
from typing import Annotated, Any, Literal, Union

import attrs
from cattrs.errors import IterableValidationError, IterableValidationNote

from ._unstructure import MAX_DEPTH, text_problem

NoneType = type(None)
Hook = Callable[[Any, Any], Any]


class Mismatch(ValueError):
    """JSON data that does not fit its type; the message says what was expected and what came."""


class TooDeep(Mismatch):
    """Nested deeper than ``MAX_DEPTH``: named where the check began."""


_KIND_NAMES = {NoneType: "null", bool: "a boolean", int: "a number", float: "a number"}
_KIND_NAMES |= {str: "a string", list: "an array", dict: "an object"}


def kind_of(data: Any) -> str:
    """What JSON calls ``data``'s kind ("an object"), or its Python type when it is not JSON."""
    return _KIND_NAMES.get(type(data)) or f"a {type(data).__name__} (not JSON data)"


def show(data: Any) -> str:
    """A scalar as JSON text (cut short), anything else by its kind."""
    if type(data) in (str, int, float, bool, NoneType):
        text = json.dumps(data)
        return text if len(text) <= 40 else text[:37] + "..."
    return kind_of(data)


# --- JSON kinds, for unions -----------------------------------------------------------

# A JSON value's kind as unions dispatch on it: an integer may go to ``int`` or ``float``.
DISPATCH_KIND = {NoneType: "null", bool: "boolean", int: "integer", float: "fraction"}
DISPATCH_KIND |= {str: "string", list: "array", dict: "object"}
_ALL_KINDS = frozenset(DISPATCH_KIND.values())
KIND_TEXT = {"null": "null", "boolean": "booleans", "integer": "integers"}
KIND_TEXT |= {"fraction": "numbers", "string": "strings", "array": "arrays"}
KIND_TEXT |= {"object": "objects"}


def unwrap(type_: Any) -> Any:
    """The type behind ``Annotated[T, ...]`` and ``NewType``."""
    while True:
        if typing.get_origin(type_) is Annotated:
            type_ = typing.get_args(type_)[0]
        elif hasattr(type_, "__supertype__"):
            type_ = type_.__supertype__
        else:
            return type_


_STRING_TYPES = (str, dt.datetime, dt.date, dt.time, uuid.UUID, decimal.Decimal)
_ARRAY_ORIGINS = (list, tuple, set, frozenset, Sequence, MutableSequence, AbstractSet, MutableSet)
OBJECT_ORIGINS = (dict, Mapping, MutableMapping)


def is_class(type_: Any) -> bool:
    return isinstance(type_, type) and (attrs.has(type_) or dataclasses.is_dataclass(type_))


def is_enum(type_: Any) -> bool:
    return isinstance(type_, type) and issubclass(type_, enum.Enum)


def _choices(type_: Any) -> list[Any]:
    """The JSON values of a Literal or an enum."""
    if is_enum(type_):
        return [member.value for member in type_]
    return [v.value if isinstance(v, enum.Enum) else v for v in typing.get_args(type_)]


def kinds(type_: Any) -> frozenset[str]:
    """The JSON kinds data of ``type_`` may have (for a type ``hook`` accepts)."""
    type_ = unwrap(type_)
    if type_ is Any or type_ is object or type_ is inspect.Parameter.empty:
        return _ALL_KINDS
    if type_ is None or type_ is NoneType:
        return frozenset({"null"})
    if type_ is bool:
        return frozenset({"boolean"})
    if type_ is int:
        return frozenset({"integer"})
    if type_ is float:
        return frozenset({"integer", "fraction"})
    if type_ in _STRING_TYPES:
        return frozenset({"string"})
    origin = typing.get_origin(type_)
    if origin is Literal or is_enum(type_):
        return frozenset(DISPATCH_KIND.get(type(v), "other") for v in _choices(type_))
    if origin is Union or origin is types.UnionType:
        return frozenset().union(*(kinds(arg) for arg in typing.get_args(type_)))
    base = origin or type_
    if base in _ARRAY_ORIGINS:
        return frozenset({"array"})
    if base in OBJECT_ORIGINS or is_class(base):
        return frozenset({"object"})
    return frozenset()


def describe(type_: Any) -> str:
    """What data of ``type_`` looks like, for messages: "a string or null"."""
    type_ = unwrap(type_)
    origin = typing.get_origin(type_)
    if origin is Union or origin is types.UnionType:
        parts = list(dict.fromkeys(describe(arg) for arg in typing.get_args(type_)))
        if len(parts) == 1:
            return parts[0]
        return ", ".join(parts[:-1]) + " or " + parts[-1]
    if origin is Literal or is_enum(type_):
        return _one_of(_choices(type_))
    return _DESCRIPTIONS.get(type_) or (
        "an array" if (origin or type_) in _ARRAY_ORIGINS else "an object"
    )


def _one_of(values: list[Any]) -> str:
    shown = [json.dumps(v) for v in values[:10]]
    more = ", ..." if len(values) > 10 else ""
    return shown[0] if len(shown) == 1 else f"one of {', '.join(shown)}{more}"


_DESCRIPTIONS: dict[Any, str] = {
    Any: "JSON data",
    object: "JSON data",
    inspect.Parameter.empty: "JSON data",
    None: "null",
    NoneType: "null",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    dt.datetime: "a date-time string (ISO 8601)",
    dt.date: "a date string (ISO 8601)",
    dt.time: "a time string (ISO 8601)",
    uuid.UUID: "a UUID string (8-4-4-4-12 hex digits)",
    decimal.Decimal: "a decimal number as a string",
}


# --- leaves -------------------------------------------------------------------------


def structure_str(data: Any, _: Any) -> str:
    if type(data) is str:
        if data.isascii():
            return data
        problem = text_problem(data)
        if problem is None:
            return data
        raise Mismatch(problem)
    raise Mismatch(f"expected a string, got {kind_of(data)}")


def structure_int(data: Any, _: Any) -> int:
    if type(data) is int:
        return data
    if type(data) is float:
        raise Mismatch(f"expected an integer, got {data!r}")
    raise Mismatch(f"expected an integer, got {kind_of(data)}")


def structure_float(data: Any, _: Any) -> float:
    kind = type(data)
    if kind is float:
        if data - data == 0.0:
            return float(data)
        raise Mismatch(f"expected a finite number, got {data!r}")
    if kind is int:
        try:
            return float(data)
        except OverflowError:
            raise Mismatch("expected a number, got an integer too large for a float") from None
    raise Mismatch(f"expected a number, got {kind_of(data)}")


def structure_bool(data: Any, _: Any) -> bool:
    if type(data) is bool:
        return data
    raise Mismatch(f"expected a boolean, got {kind_of(data)}")


def structure_none(data: Any, _: Any) -> None:
    if data is None:
        return None
    raise Mismatch(f"expected null, got {kind_of(data)}")


def structure_any(data: Any, _: Any) -> Any:
    """JSON data passes as it is, once checked to be JSON data."""
    check_plain(data, 0)
    return data


def pass_through(data: Any, _: Any) -> Any:
    return data


def structure_any_str(data: Any, _: Any) -> str:
    if type(data) is str:
        return data
    raise Mismatch(f"expected a string, got {kind_of(data)}")


def check_plain(data: Any, depth: int) -> None:
    """Raise ``Mismatch`` unless ``data`` is JSON data (as ``json.loads`` gives), naming where."""
    kind = type(data)
    if kind is str:
        if not data.isascii() and (problem := text_problem(data)):
            raise Mismatch(problem)
    elif kind is int or kind is bool or data is None:
        return
    elif kind is float:
        if data - data != 0.0:
            raise Mismatch(f"{data!r} is not a JSON number")
    elif kind is list or kind is dict:
        if depth >= MAX_DEPTH:
            raise TooDeep(f"nested deeper than {MAX_DEPTH} levels")
        items: Iterable[tuple[Any, Any]] = enumerate(data) if kind is list else data.items()
        for key, item in items:
            try:
                if type(key) is not int:
                    if type(key) is not str:
                        raise Mismatch(f"expected a string key, got {kind_of(key)}")
                    if not key.isascii() and (problem := text_problem(key)):
                        raise Mismatch(f"a key: {problem}")
                check_plain(item, depth + 1)
            except TooDeep:
                raise
            except Exception as exc:
                raise at_index(exc, key, Any) from None
    else:
        raise Mismatch(f"expected JSON data, got {kind_of(data)}")


def at_index(exc: Exception, index: Any, type_: Any) -> IterableValidationError:
    """``exc`` as the one problem of a container at ``index`` (cattrs then names the path)."""
    note = IterableValidationNote(f"Structuring @ index {index!r}", index, type_)
    exc.__notes__ = [*getattr(exc, "__notes__", []), note]
    return IterableValidationError("While structuring JSON data", [exc], type_)


def _parser(parse: Callable[[str], Any], type_: Any) -> Hook:
    expected = _DESCRIPTIONS[type_]

    def structure_text(data: Any, _: Any) -> Any:
        if type(data) is not str:
            raise Mismatch(f"expected {expected}, got {kind_of(data)}")
        try:
            return parse(data)
        except ValueError:
            pass
        raise Mismatch(f"expected {expected}, got {show(data)}")

    return structure_text


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _parse_uuid(text: str) -> uuid.UUID:
    if not _UUID.fullmatch(text):
        raise ValueError(text)
    return uuid.UUID(text)


def _parse_decimal(text: str) -> decimal.Decimal:
    if not _DECIMAL.fullmatch(text):
        raise ValueError(text)
    return decimal.Decimal(text)


INT_KEY = re.compile(r"-?(?:0|[1-9][0-9]*)")

LEAVES: dict[Any, Hook] = {
    Any: structure_any,
    object: structure_any,
    inspect.Parameter.empty: structure_any,
    None: structure_none,
    NoneType: structure_none,
    str: structure_str,
    int: structure_int,
    float: structure_float,
    bool: structure_bool,
    dt.datetime: _parser(dt.datetime.fromisoformat, dt.datetime),
    dt.date: _parser(dt.date.fromisoformat, dt.date),
    dt.time: _parser(dt.time.fromisoformat, dt.time),
    uuid.UUID: _parser(_parse_uuid, uuid.UUID),
    decimal.Decimal: _parser(_parse_decimal, decimal.Decimal),
}


def name_of(type_: Any) -> str:
    return getattr(type_, "__qualname__", None) or repr(type_)


def hashable(type_: Any) -> bool:
    """False for item types whose values could never be in a set."""
    type_ = unwrap(type_)
    origin = typing.get_origin(type_)
    if origin is Union or origin is types.UnionType or origin is tuple:
        return all(hashable(arg) for arg in typing.get_args(type_) if arg is not Ellipsis)
    base = origin or type_
    if base in (list, set, dict, MutableSequence, MutableSet, Mapping, MutableMapping):
        return False
    if is_class(base):
        return base.__hash__ is not None
    return True


def depth_exceeds(data: Any, limit: int) -> bool:
    """Whether ``data`` nests arrays and objects deeper than ``limit``, without recursion."""
    stack = [(data, 1)]
    while stack:
        value, level = stack.pop()
        if level > limit:
            return True
        for item in value.values() if type(value) is dict else value:
            if type(item) is list or type(item) is dict:
                stack.append((item, level + 1))
    return False
