"""FEEL's built-in functions by name: the families, and the boolean, context and
conversion functions.

Each entry is ``name -> (fewest arguments, most arguments or None, implementation)``;
an implementation takes the evaluated arguments as a list and never raises (a wrong
type gives null). ``is defined`` is compiled specially: it checks that a path exists.
Besides the FEEL specification's functions, a few of Camunda's own are here (``is empty``,
``is blank``, ``extract``, ``duplicate values``, ``partition``, ``last day of month``,
``from json``, ``to json``); its non-deterministic ones (``random number``, ``uuid``) are
not, as a replay must compute the same values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from . import _feel_dates, _feel_lists, _feel_numbers, _feel_text
from ._feel_values import to_number, to_string


def _number(args: list[Any]) -> Any:
    value = args[0]
    if to_number(value) is not None:
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+(\.\d+)?([eE][-+]?\d+)?\s*", value):
        number = Decimal(value.strip())
        return int(number) if number == number.to_integral_value() and "." not in value else number
    return None


def _string(args: list[Any]) -> str | None:
    return None if args[0] is None else to_string(args[0])


def _from_json(args: list[Any]) -> Any:
    """Camunda's ``from json``: JSON text to a value (null when it is not JSON)."""
    if not isinstance(args[0], str):
        return None
    try:
        return json.loads(args[0], parse_float=Decimal, parse_constant=lambda name: None)
    except (ValueError, RecursionError):
        return None


def _to_json(args: list[Any]) -> str | None:
    """Camunda's ``to json``: a value as JSON text (dates and durations as ISO text)."""
    return json.dumps(_plain(args[0]), ensure_ascii=False, separators=(", ", ":"))


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if value is None or isinstance(value, str | bool | int):
        return value
    number = to_number(value)
    if isinstance(number, Decimal) and number != number.to_integral_value():
        return float(number)
    return to_string(value) if number is None else int(number)


def _not(args: list[Any]) -> bool | None:
    return not args[0] if isinstance(args[0], bool) else None


def _get_value(args: list[Any]) -> Any:
    context, key = args
    if not isinstance(context, Mapping):
        return None
    keys = key if isinstance(key, list) else [key]
    value: Any = context
    for part in keys:
        if not isinstance(part, str) or not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _get_entries(args: list[Any]) -> list[dict[str, Any]] | None:
    context = args[0]
    if not isinstance(context, Mapping):
        return None
    return [{"key": key, "value": value} for key, value in context.items()]


def _put(context: Mapping[str, Any], keys: list[Any], value: Any) -> dict[str, Any] | None:
    head, rest = keys[0], keys[1:]
    if not isinstance(head, str):
        return None
    result = dict(context)
    if rest:
        inner = result.get(head)
        nested = _put(inner if isinstance(inner, Mapping) else {}, rest, value)
        if nested is None:
            return None
        result[head] = nested
    else:
        result[head] = value
    return result


def _context_put(args: list[Any]) -> dict[str, Any] | None:
    context, key, value = args
    keys = key if isinstance(key, list) else [key]
    if not isinstance(context, Mapping) or not keys:
        return None
    return _put(context, keys, value)


def _context_merge(args: list[Any]) -> dict[str, Any] | None:
    contexts = args[0] if len(args) == 1 and isinstance(args[0], list) else args
    if not all(isinstance(context, Mapping) for context in contexts):
        return None
    merged: dict[str, Any] = {}
    for context in contexts:
        merged.update(context)
    return merged


def _context(args: list[Any]) -> dict[str, Any] | None:
    entries = args[0]
    if not isinstance(entries, list):
        return None
    result: dict[str, Any] = {}
    for entry in entries:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("key"), str):
            return None
        result[entry["key"]] = entry.get("value")
    return result


Function = Callable[[list[Any]], Any]

FUNCTIONS: dict[str, tuple[int, int | None, Function]] = {
    # boolean and null
    "not": (1, 1, _not),
    "is defined": (1, 1, lambda args: True),  # replaced by an existence check when compiled
    "get or else": (2, 2, lambda args: args[1] if args[0] is None else args[0]),
    # conversions
    "string": (1, 1, _string),
    "number": (1, 1, _number),
    "from json": (1, 1, _from_json),
    "to json": (1, 1, _to_json),
    # contexts
    "get value": (2, 2, _get_value),
    "get entries": (1, 1, _get_entries),
    "context put": (3, 3, _context_put),
    "context merge": (1, None, _context_merge),
    "context": (1, 1, _context),
    **_feel_text.FUNCTIONS,
    **_feel_numbers.FUNCTIONS,
    **_feel_lists.FUNCTIONS,
    **_feel_dates.FUNCTIONS,
}
