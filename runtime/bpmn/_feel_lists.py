"""FEEL's list functions.

Aggregates (``sum``, ``min``, ``mean``, ...) take a list or their items as arguments
(``max([1, 2])`` and ``max(1, 2)`` alike) and are null when an item has the wrong type.
Positions are 1-based. ``sort`` orders with a ``precedes`` function when given one
(``sort(xs, function(a, b) a > b)``) and ascending otherwise (a null when the items do
not compare, where Camunda's FEEL requires the function).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ._feel_text import integer
from ._feel_values import Function, add, all_true, any_true, compare, div, equal, mul, to_number


def items_of(args: list[Any]) -> list[Any] | None:
    """``f([1, 2])`` and ``f(1, 2)`` alike."""
    if len(args) == 1:
        return list(args[0]) if isinstance(args[0], list | tuple) else None
    return list(args)


def _numbers(args: list[Any]) -> list[int | Decimal] | None:
    items = items_of(args)
    if items is None:
        return None
    numbers = [to_number(item) for item in items]
    return None if any(n is None for n in numbers) else numbers  # type: ignore[return-value]


def _fold(op: Callable[[Any, Any], Any], start: Any) -> Callable[[list[Any]], Any]:
    def fold(args: list[Any]) -> Any:
        numbers = _numbers(args)
        if numbers is None:
            return None
        total = start
        for number in numbers:
            total = op(total, number)
        return total

    return fold


_sum = _fold(add, 0)


def _mean(args: list[Any]) -> Any:
    numbers = _numbers(args)
    return None if not numbers else div(_sum([numbers]), len(numbers))


def _median(args: list[Any]) -> Any:
    numbers = _numbers(args)
    if not numbers:
        return None
    ordered = sorted(numbers)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return div(add(ordered[middle - 1], ordered[middle]), 2)


def _extreme(pick: str) -> Callable[[list[Any]], Any]:
    def extreme(args: list[Any]) -> Any:
        items = items_of(args)
        if not items:
            return None
        best = items[0]
        for item in items[1:]:
            better = compare(pick, item, best)
            if better is None:
                return None
            best = item if better else best
        return best if compare(pick, best, best) is not None else None

    return extreme


def _booleans(combine: Callable[[Any], bool | None]) -> Callable[[list[Any]], Any]:
    def check(args: list[Any]) -> bool | None:
        items = items_of(args)
        return None if items is None else combine(items)

    return check


def _list(function: Callable[..., Any]) -> Callable[[list[Any]], Any]:
    """Null unless the first argument is a list."""
    return lambda args: function(list(args[0]), *args[1:]) if _is_list(args[0]) else None


def _is_list(value: Any) -> bool:
    return isinstance(value, list | tuple)


def _contains(items: list[Any], wanted: Any) -> bool:
    return any(equal(item, wanted) is True for item in items)


def _index_of(items: list[Any], wanted: Any) -> list[int]:
    return [i for i, item in enumerate(items, start=1) if equal(item, wanted) is True]


def _distinct(items: list[Any]) -> list[Any]:
    kept: list[Any] = []
    for item in items:
        if not _contains(kept, item):
            kept.append(item)
    return kept


def _flatten(items: list[Any]) -> list[Any]:
    flat: list[Any] = []
    for item in items:
        flat.extend(_flatten(list(item)) if _is_list(item) else [item])
    return flat


def _sublist(items: list[Any], start: Any, length: Any = None) -> list[Any] | None:
    begin = integer(start)
    if begin is None or begin == 0 or abs(begin) > len(items):
        return None
    index = begin - 1 if begin > 0 else len(items) + begin
    if length is None:
        return items[index:]
    count = integer(length)
    return None if count is None or count < 0 else items[index : index + count]


def _natural(a: Any, b: Any) -> int:
    return -1 if compare("<", a, b) else (1 if compare(">", a, b) else 0)


def _sort(items: list[Any], precedes: Any = None) -> list[Any] | None:
    if precedes is None:
        if any(compare("<", items[0], item) is None for item in items):
            return None
        return sorted(items, key=functools.cmp_to_key(_natural))
    if not isinstance(precedes, Function) or len(precedes.parameters) != 2:
        return None
    failed = False

    def order(a: Any, b: Any) -> int:
        nonlocal failed
        before = precedes([a, b])
        if not isinstance(before, bool):
            failed = True
        return -1 if before is True else (1 if precedes([b, a]) is True else 0)

    ordered = sorted(items, key=functools.cmp_to_key(order))
    return None if failed else ordered


def _append(items: list[Any], *more: Any) -> list[Any]:
    return [*items, *more]


def _concatenate(args: list[Any]) -> list[Any] | None:
    if not all(_is_list(arg) for arg in args):
        return None
    return [item for arg in args for item in arg]


def _union(args: list[Any]) -> list[Any] | None:
    joined = _concatenate(args)
    return None if joined is None else _distinct(joined)


def _count(items: list[Any]) -> int:
    return len(items)


def _duplicates(items: list[Any]) -> list[Any]:
    seen: list[Any] = []
    repeated: list[Any] = []
    for item in items:
        if _contains(seen, item) and not _contains(repeated, item):
            repeated.append(item)
        seen.append(item)
    return repeated


def _partition(items: list[Any], size: Any) -> list[list[Any]] | None:
    count = integer(size)
    if count is None or count <= 0:
        return None
    return [items[i : i + count] for i in range(0, len(items), count)]


FUNCTIONS: dict[str, tuple[int, int | None, Callable[[list[Any]], Any]]] = {
    "count": (1, 1, _list(_count)),
    "sum": (1, None, _sum),
    "product": (1, None, _fold(mul, 1)),
    "mean": (1, None, _mean),
    "median": (1, None, _median),
    "min": (1, None, _extreme("<")),
    "max": (1, None, _extreme(">")),
    "all": (1, None, _booleans(all_true)),
    "any": (1, None, _booleans(any_true)),
    "list contains": (2, 2, _list(_contains)),
    "index of": (2, 2, _list(_index_of)),
    "distinct values": (1, 1, _list(_distinct)),
    "flatten": (1, 1, _list(_flatten)),
    "sublist": (2, 3, _list(_sublist)),
    "reverse": (1, 1, _list(lambda items: items[::-1])),
    "sort": (1, 2, _list(_sort)),
    "append": (1, None, _list(_append)),
    "concatenate": (1, None, _concatenate),
    "union": (1, None, _union),
    # Camunda's extensions
    "is empty": (1, 1, _list(lambda items: not items)),
    "duplicate values": (1, 1, _list(_duplicates)),
    "partition": (2, 2, _list(_partition)),
}
