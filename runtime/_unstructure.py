"""Python values into plain JSON data: the one form every value takes in the journal.

The result holds only ``dict`` (string keys), ``list``, ``str``, ``int``, ``float``,
``bool`` and ``None``, so it is what ``json.loads`` gives back for its text: a workflow
sees the same data on its first run and on replay. Each Python type has one JSON form,
picked by the value's own type:

- ``tuple`` and ``list``: an array; ``set`` and ``frozenset``: an array in the order of
  the items' JSON text, so equal sets give equal text;
- attrs classes and dataclasses: an object of their ``__init__`` fields;
- enums: their value; ``datetime``, ``date``, ``time``: ISO 8601 text; ``UUID``: its
  canonical text; ``Decimal``: its text (``"12.50"``);
- dict keys: strings, or ints, enums, UUIDs, dates and decimals in their text form.

Refused, naming where: NaN and infinities, strings that are not valid text (a lone
surrogate), integers too long for Python to print, anything else, and values nested
deeper than ``MAX_DEPTH`` containers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import uuid
from collections.abc import Callable
from typing import Any

import attrs

from ._json import dumps

MAX_DEPTH = 100
"""Containers (arrays, objects) nested deeper than this are refused."""

_LONG_INT_BITS = 13_000  # below Python's default limit of 4300 digits for int <-> str


class NotJson(ValueError):
    """A value with no JSON form; ``where`` holds the path segments, innermost first."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.where: list[str] = []

    def at(self, path: str) -> str:
        return f"{self.problem} @ {path}{''.join(reversed(self.where))}"


class TooDeep(NotJson):
    """Nested deeper than ``MAX_DEPTH``: named at the root, not at the hundredth index."""


def too_deep() -> TooDeep:
    return TooDeep(f"nested deeper than {MAX_DEPTH} levels")


def text_problem(value: str) -> str | None:
    """Why ``value`` is not valid text (it holds a lone surrogate), or None."""
    if value.isascii():
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (
            f"a string with a lone surrogate (\\u{ord(value[exc.start]):04x} at index "
            f"{exc.start}) is not valid text"
        )
    return None


Unstructure = Callable[[Any, int], Any]


def unstructure(value: Any, depth: int = 0) -> Any:
    """``value`` as plain JSON data; ``depth`` is the number of enclosing containers."""
    kind = type(value)
    hook = _HOOKS.get(kind)
    if hook is None:
        hook = _hook_for(kind)
    return hook(value, depth)


def _same(value: Any, _: int) -> Any:
    return value


def _str(value: str, _: int) -> str:
    if not value.isascii() and (problem := text_problem(value)):
        raise NotJson(problem)
    return value


def _int(value: int, _: int) -> int:
    if value.bit_length() > _LONG_INT_BITS:
        try:
            str(value)
        except ValueError:
            raise NotJson("an integer with more digits than Python prints is not JSON") from None
    return value


def _float(value: float, _: int) -> float:
    if value - value != 0.0:  # NaN and infinities, without a call
        raise NotJson(f"{value!r} is not a JSON number")
    return value


def _array(value: list[Any] | tuple[Any, ...], depth: int) -> list[Any]:
    if depth >= MAX_DEPTH:
        raise too_deep()
    inner = depth + 1
    try:
        return [unstructure(item, inner) for item in value]
    except TooDeep:
        raise
    except NotJson as exc:
        exc.where.append(f"[{_first_bad(value, inner)}]")
        raise


def _first_bad(items: Any, depth: int) -> int:
    for i, item in enumerate(items):
        try:
            unstructure(item, depth)
        except NotJson:
            return i
    return -1  # not reached: the caller saw one fail


def _object(value: dict[Any, Any], depth: int) -> dict[str, Any]:
    if depth >= MAX_DEPTH:
        raise too_deep()
    inner = depth + 1
    out: dict[str, Any] = {}
    for key, item in value.items():
        try:
            if type(key) is str:
                if not key.isascii() and (problem := text_problem(key)):
                    raise NotJson(f"a key: {problem}")
                text = key
            else:
                text = _key(key)
            out[text] = unstructure(item, inner)
        except TooDeep:
            raise
        except NotJson as exc:
            exc.where.append(f"[{key!r}]")
            raise
    if len(out) != len(value):
        raise NotJson("two keys have the same text")
    return out


def _key(key: Any) -> str:
    kind = type(key)
    if isinstance(key, enum.Enum):
        key = key.value
        kind = type(key)
    if kind is str:
        return key  # type: ignore[no-any-return]
    if kind is int or (isinstance(key, int) and kind is not bool):
        return str(int(key))
    if isinstance(key, dt.date | dt.time):
        return key.isoformat()
    if isinstance(key, uuid.UUID):
        return str(key)
    if isinstance(key, decimal.Decimal):
        return _decimal(key, 0)
    raise NotJson(f"a key of type {kind.__name__} has no JSON form (keys are text)")


def _set(value: set[Any] | frozenset[Any], depth: int) -> list[Any]:
    items = _array(tuple(value), depth)
    items.sort(key=dumps)
    return items


def _iso(value: dt.date | dt.time, _: int) -> str:
    return value.isoformat()


def _uuid(value: uuid.UUID, _: int) -> str:
    return str(value)


def _decimal(value: decimal.Decimal, _: int) -> str:
    if not value.is_finite():
        raise NotJson(f"Decimal({str(value)!r}) is not a JSON number")
    return str(value)


def _enum(value: enum.Enum, depth: int) -> Any:
    return unstructure(value.value, depth)


def _class_hook(kind: type) -> Unstructure:
    if attrs.has(kind):
        names = [a.name for a in attrs.fields(kind) if a.init]
    else:
        names = [f.name for f in dataclasses.fields(kind) if f.init]

    def unstructure_class(value: Any, depth: int) -> dict[str, Any]:
        if depth >= MAX_DEPTH:
            raise too_deep()
        inner = depth + 1
        out = {}
        for name in names:
            try:
                out[name] = unstructure(getattr(value, name), inner)
            except TooDeep:
                raise
            except NotJson as exc:
                exc.where.append(f".{name}")
                raise
        return out

    return unstructure_class


def _refuse(kind: type) -> Unstructure:
    def refuse(value: Any, _: int) -> Any:
        raise NotJson(f"a value of type {kind.__qualname__} has no JSON form")

    return refuse


_HOOKS: dict[type, Unstructure] = {
    str: _str,
    int: _int,
    bool: _same,
    type(None): _same,
    float: _float,
    list: _array,
    tuple: _array,
    dict: _object,
    set: _set,
    frozenset: _set,
    dt.datetime: _iso,
    dt.date: _iso,
    dt.time: _iso,
    uuid.UUID: _uuid,
    decimal.Decimal: _decimal,
}


def _hook_for(kind: type) -> Unstructure:
    """The hook of a type not in the table (a subclass, an enum, a class): found once."""
    hook: Unstructure
    if issubclass(kind, enum.Enum):
        hook = _enum
    elif attrs.has(kind) or dataclasses.is_dataclass(kind):
        hook = _class_hook(kind)
    elif issubclass(kind, str):
        hook = lambda value, depth: _str(str.__str__(value), depth)  # noqa: E731
    elif issubclass(kind, int) and not issubclass(kind, bool):
        hook = lambda value, depth: _int(int.__int__(value), depth)  # noqa: E731
    elif issubclass(kind, float):
        hook = lambda value, depth: _float(float.__float__(value), depth)  # noqa: E731
    else:
        hook = next(
            (h for base, h in _SUBCLASSABLE if issubclass(kind, base)),
            _refuse(kind),
        )
    _HOOKS[kind] = hook
    return hook


_SUBCLASSABLE: list[tuple[type, Unstructure]] = [
    (list, _array),
    (tuple, _array),
    (dict, _object),
    (set, _set),
    (frozenset, _set),
    (dt.date, _iso),  # datetime too
    (dt.time, _iso),
    (uuid.UUID, _uuid),
    (decimal.Decimal, _decimal),
]
