"""FEEL's string functions.

Every function is null unless its arguments have the right types. Positions are
1-based and count characters, as FEEL counts them. ``matches``, ``replace`` and ``split``
take regular expressions: FEEL's (XPath's) syntax is close to Python's, and ``$1`` in a
replacement is the first group. A pattern is capped at 1,000 characters and the text at
100,000, and patterns that nest quantifiers (``(a+)+``), which can take exponential
time on Python's backtracking engine, give null instead of running.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any

from ._feel_values import to_number

_FLAGS = {"i": re.IGNORECASE, "s": re.DOTALL, "m": re.MULTILINE, "x": re.VERBOSE}
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)\s*[+*{]")
MAX_PATTERN = 1_000
MAX_TEXT = 100_000


def strings(function: Callable[..., Any]) -> Callable[[list[Any]], Any]:
    """Null unless every argument is a string."""
    return lambda args: function(*args) if all(isinstance(a, str) for a in args) else None


def integer(value: Any) -> int | None:
    number = to_number(value)
    if number is None or number != int(number):
        return None
    return int(number)


def substring(args: list[Any]) -> str | None:
    text, start = args[0], integer(args[1])
    length = integer(args[2]) if len(args) > 2 else None
    if not isinstance(text, str) or start is None or start == 0:
        return None
    if len(args) > 2 and (length is None or length < 0):
        return None
    begin = start - 1 if start > 0 else max(len(text) + start, 0)
    return text[begin:] if length is None else text[begin : begin + length]


def _before(text: str, match: str) -> str:
    index = text.find(match)
    return text[:index] if index >= 0 else ""


def _after(text: str, match: str) -> str:
    index = text.find(match)
    return text[index + len(match) :] if index >= 0 else ""


def _pattern(pattern: Any, flags: Any, text: Any) -> re.Pattern[str] | None:
    """A compiled pattern, or None when anything is off (types, flags, size, syntax)."""
    if not isinstance(pattern, str) or not isinstance(text, str) or not isinstance(flags, str):
        return None
    if len(pattern) > MAX_PATTERN or len(text) > MAX_TEXT or _NESTED_QUANTIFIER.search(pattern):
        return None
    options = 0
    for flag in flags:
        if flag not in _FLAGS:
            return None
        options |= _FLAGS[flag]
    try:
        return re.compile(pattern, options)
    except (re.error, RecursionError):
        return None


def _matches(args: list[Any]) -> bool | None:
    compiled = _pattern(args[1], args[2] if len(args) > 2 else "", args[0])
    return None if compiled is None else compiled.search(args[0]) is not None


def _replace(args: list[Any]) -> str | None:
    text, replacement = args[0], args[2]
    compiled = _pattern(args[1], args[3] if len(args) > 3 else "", text)
    if compiled is None or not isinstance(replacement, str) or compiled.match(""):
        return None  # XPath refuses a pattern that matches the empty string
    template = re.sub(r"\\", r"\\\\", replacement)
    template = re.sub(r"\$(\d)", r"\\g<\1>", template)
    try:
        return compiled.sub(template, text)
    except (re.error, IndexError):
        return None


def _split(args: list[Any]) -> list[str] | None:
    compiled = _pattern(args[1], "", args[0])
    if compiled is None or compiled.match(""):
        return None
    return compiled.split(args[0]) if compiled.groups == 0 else None


def _extract(args: list[Any]) -> list[str] | None:
    compiled = _pattern(args[1], "", args[0])
    if compiled is None:
        return None
    return [match.group() for match in compiled.finditer(args[0])]


def _string_join(args: list[Any]) -> str | None:
    if len(args) == 3:
        return None  # a prefix comes with a suffix
    items, delimiter = args[0], args[1] if len(args) > 1 else ""
    prefix, suffix = (args[2], args[3]) if len(args) > 3 else ("", "")
    if not isinstance(items, list | tuple):
        return None
    if not all(isinstance(part, str) for part in (delimiter, prefix, suffix)):
        return None
    if not all(item is None or isinstance(item, str) for item in items):
        return None
    return prefix + delimiter.join(item for item in items if item is not None) + suffix


FUNCTIONS: dict[str, tuple[int, int | None, Callable[[list[Any]], Any]]] = {
    "string length": (1, 1, strings(len)),
    "substring": (2, 3, substring),
    "substring before": (2, 2, strings(_before)),
    "substring after": (2, 2, strings(_after)),
    "upper case": (1, 1, strings(str.upper)),
    "lower case": (1, 1, strings(str.lower)),
    "trim": (1, 1, strings(str.strip)),
    "contains": (2, 2, strings(operator.contains)),
    "starts with": (2, 2, strings(str.startswith)),
    "ends with": (2, 2, strings(str.endswith)),
    "matches": (2, 3, _matches),
    "replace": (3, 4, _replace),
    "split": (2, 2, _split),
    "string join": (1, 4, _string_join),
    # Camunda's extensions
    "is blank": (1, 1, strings(lambda text: not text.strip())),
    "extract": (2, 2, _extract),
}
