"""What ``for``, ``some``/``every`` and ``instance of`` need besides the parser.

``iterate`` walks the iteration contexts of a ``for``/``some``/``every`` as nested loops
(the first name outermost), yielding the local variables of each round, or a single None
when a context is not a list (the whole expression is then null). A range ``1..3`` counts
whole numbers up or down, both ends included. More than ``MAX_ROUNDS`` rounds in all
(a huge range, or nested lists whose product is huge) make the expression null rather
than a way to stall the runtime (Zeebe's FEEL has no such bound).
"""

from __future__ import annotations

import datetime as dt
from collections import ChainMap
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any, NamedTuple, cast

from . import _feel_values as values
from ._feel_temporal import YearsMonths

Scope = Mapping[str, Any]
MAX_ROUNDS = 100_000


class Iteration(NamedTuple):
    name: str
    source: Callable[[Scope], Any]
    high: Callable[[Scope], Any] | None


def _items(iteration: Iteration, scope: Scope) -> list[Any] | range | None:
    value = iteration.source(scope)
    if iteration.high is None:
        return list(value) if isinstance(value, list | tuple) else None
    low, high = values.to_number(value), values.to_number(iteration.high(scope))
    if low is None or high is None or low != int(low) or high != int(high):
        return None
    low, high = int(low), int(high)
    if abs(high - low) >= MAX_ROUNDS:
        return None
    return range(low, high + 1) if low <= high else range(low, high - 1, -1)


def iterate(
    contexts: list[Iteration], scope: Scope, extra: dict[str, Any]
) -> Iterator[dict[str, Any] | None]:
    """The local variables of each round (``extra`` is seen by every round), or one None."""

    def walk(index: int, local: dict[str, Any]) -> Iterator[dict[str, Any] | None]:
        if index == len(contexts):
            yield local
            return
        items = _items(contexts[index], ChainMap(local, cast("MutableMapping[str, Any]", scope)))
        if items is None:
            yield None
            return
        for item in items:
            yield from walk(index + 1, {**local, contexts[index].name: item})

    for rounds, local in enumerate(walk(0, dict(extra))):
        if rounds >= MAX_ROUNDS:
            yield None
            return
        yield local
        if local is None:
            return


_TYPES: dict[str, Callable[[Any], bool]] = {
    "Any": lambda value: value is not None,
    "Null": lambda value: value is None,
    "number": lambda value: values.kind_of(value) == "number",
    "string": lambda value: isinstance(value, str),
    "boolean": lambda value: isinstance(value, bool),
    "date": lambda value: type(value) is dt.date,
    "time": lambda value: isinstance(value, dt.time),
    "date and time": lambda value: isinstance(value, dt.datetime),
    "days and time duration": lambda value: isinstance(value, dt.timedelta),
    "years and months duration": lambda value: isinstance(value, YearsMonths),
    "list": lambda value: isinstance(value, list | tuple),
    "context": lambda value: isinstance(value, Mapping),
    "function": lambda value: isinstance(value, values.Function),
}


def type_test(name: str) -> Callable[[Any], bool] | None:
    """The check ``instance of <name>`` makes, None for an unknown type name."""
    return _TYPES.get(name)
