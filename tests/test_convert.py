"""JSON text for the journal: one encoding for equal values, and the same refusals either way."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import attrs
import pytest

from runtime import InvalidInput
from runtime._convert import check_json, dumps, from_json_value


def test_dumps_is_compact_and_key_ordered() -> None:
    assert dumps({"b": [1, 2.5, "é"], "a": None}) == '{"a":null,"b":[1,2.5,"\\u00e9"]}'
    assert dumps("x") == '"x"'
    assert dumps({1: True}) == '{"1":true}'


@pytest.mark.parametrize(
    "value",
    [math.nan, [math.inf], {"a": -math.inf}, {1j: 1}, {"a": object()}, [object()], {"a": [{1j}]}],
)
def test_what_dumps_refuses_check_json_refuses(value: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        dumps(value)
    with pytest.raises((TypeError, ValueError)):
        check_json(value)


@pytest.mark.parametrize(
    "value", [0, "x", None, True, 1.5, [1, "a", None], {"a": 1}, {"a": [1, {"b": 2.0}]}, {1: 2}]
)
def test_json_data_passes_check_json(value: Any) -> None:
    check_json(value)
    dumps(value)


def test_a_circular_value_is_a_value_error() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="circular or nested too deeply"):
        dumps(loop)
    with pytest.raises(ValueError, match="circular or nested too deeply"):
        check_json({"a": loop})


@attrs.frozen
class Customer:
    name: str


@dataclasses.dataclass
class Order:
    order_id: str
    customer: Customer


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (None, "expected an object, got null @ input"),
        ([1], "expected an object, got an array @ input"),
        ("A1", "expected an object, got a string @ input"),
        ({"order_id": "A1", "customer": 5}, "expected an object, got a number @ input.customer"),
        ({"order_id": "A1", "customer": None}, "expected an object, got null @ input.customer"),
    ],
)
def test_a_class_given_something_else_than_an_object_names_what_it_got(
    data: Any, problem: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        from_json_value(data, Order, path="input")
    assert caught.value.problems == [problem]
