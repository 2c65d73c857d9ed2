"""The closures the FEEL parser builds: paths, filters, logic, unary tests.

Each takes the scope (the variables, with local names layered on top inside contexts,
filters and iterations) and returns a FEEL value; none raises.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any, cast

from . import _feel_values as values

Scope = Mapping[str, Any]
Eval = Callable[[Scope], Any]


class PathEval:
    """A variable or a path on one: kept apart so ``is defined`` can check existence."""

    __slots__ = ("path",)

    def __init__(self, path: tuple[str, ...]) -> None:
        self.path = path

    def __call__(self, scope: Scope) -> Any:
        value = scope.get(self.path[0])
        for name in self.path[1:]:
            value = values.member(value, name)
        return value

    def exists(self, scope: Scope) -> bool:
        value: Any = scope
        for name in self.path:
            if not isinstance(value, Mapping) or name not in value:
                return False
            value = value[name]
        return True


UnaryTest = Callable[[Any, Scope], bool | None]


def logic(combine: Callable[[Any], bool | None], left: Eval, right: Eval) -> Eval:
    decisive = combine is values.any_true  # true decides "or", false decides "and"

    def evaluate(s: Scope) -> bool | None:
        first = left(s)
        if first is decisive:
            return bool(decisive)
        return combine((first, right(s)))

    return evaluate


def binary(op: Callable[[Any, Any], Any], left: Eval, right: Eval) -> Eval:
    return lambda s: op(left(s), right(s))


def path(value: Eval, name: str) -> Eval:
    if isinstance(value, PathEval):
        return PathEval((*value.path, name))
    return lambda s: values.member(value(s), name)


def layer(local: dict[str, Any], scope: Scope) -> Scope:
    """The scope seen inside a context literal or a filter: local names first."""
    return ChainMap(local, cast("MutableMapping[str, Any]", scope))


def filter_(target: Eval, condition: Eval) -> Eval:
    def evaluate(s: Scope) -> Any:
        value = target(s)
        if value is None:
            return None
        items: list[Any] = list(value) if isinstance(value, list | tuple) else [value]
        index = values.to_number(condition(s))
        if index is not None:
            position = int(index)
            if index != position or position == 0 or abs(position) > len(items):
                return None
            return items[position - 1 if position > 0 else position]
        kept = []
        for item in items:
            local: dict[str, Any] = dict(item) if isinstance(item, Mapping) else {}
            local["item"] = item
            if condition(layer(local, s)) is True:
                kept.append(item)
        return kept

    return evaluate


def value_test(expected: Eval) -> UnaryTest:
    """A plain expression as a unary test: list membership, or equality."""

    def test(value: Any, s: Scope) -> bool | None:
        candidate = expected(s)
        if isinstance(candidate, list | tuple) and not isinstance(value, list | tuple):
            return any(values.equal(value, item) is True for item in candidate)
        return values.equal(value, candidate)

    return test
