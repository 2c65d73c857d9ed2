"""The converter: each annotation takes exactly its JSON form, and JSON text is canonical."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import math
import uuid
from decimal import Decimal
from typing import Any, Generic, Literal, NewType, Optional, TypeVar

import attrs
import pytest

from runtime import InvalidInput
from runtime._convert import MAX_DEPTH, check_type, dumps, from_json_value, to_json_value

# --- JSON text ------------------------------------------------------------------------


def test_dumps_is_compact_and_key_ordered() -> None:
    assert dumps({"b": [1, 2.5, "é"], "a": None}) == '{"a":null,"b":[1,2.5,"\\u00e9"]}'
    assert dumps("x") == '"x"'
    assert dumps({1: True}) == '{"1":true}'


@pytest.mark.parametrize("value", [math.nan, [math.inf], {"a": -math.inf}, {1j: 1}, [object()]])
def test_what_dumps_refuses_to_json_value_refuses(value: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        dumps(value)
    with pytest.raises(InvalidInput):
        to_json_value(value)


def test_a_circular_value_is_refused_as_too_deep() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="circular or nested too deeply"):
        dumps(loop)
    with pytest.raises(InvalidInput, match=f"nested deeper than {MAX_DEPTH} levels @ value"):
        to_json_value({"a": loop})


# --- the types ------------------------------------------------------------------------


@attrs.frozen
class Customer:
    name: str


@dataclasses.dataclass
class Order:
    order_id: str
    customer: Customer
    lines: list[int] = dataclasses.field(default_factory=list)


@attrs.frozen
class Cat:
    name: str
    meows: bool


@attrs.frozen
class Dog:
    name: str
    barks: bool


@attrs.frozen
class Tree:
    value: int
    children: list[Tree] = attrs.field(factory=list)


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


UserId = NewType("UserId", str)
NoneType = type(None)
ID = "12345678-1234-5678-1234-567812345678"

ACCEPTED: list[tuple[Any, Any, Any]] = [
    (str, "x", "x"),
    (str, "é ✓ 𝄞", "é ✓ 𝄞"),
    (UserId, "u-1", "u-1"),
    (int, 12, 12),
    (int, -(10**40), -(10**40)),
    (float, 12, 12.0),
    (float, -1.5, -1.5),
    (bool, False, False),
    (NoneType, None, None),
    (str | None, None, None),
    (Optional[str], "a", "a"),  # noqa: UP045
    (int | str, 1, 1),
    (int | str, "1", "1"),
    (int | float, 1, 1),
    (int | float, 1.5, 1.5),
    (Literal["a", 1], 1, 1),
    (Color, "red", Color.RED),
    (Level, 2, Level.HIGH),
    (Literal[Color.BLUE], "blue", Color.BLUE),
    (
        dt.datetime,
        "2026-12-06T10:30:00+01:00",
        dt.datetime(2026, 12, 6, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))),
    ),
    (dt.datetime, "2026-12-06T10:30:00.000001", dt.datetime(2026, 12, 6, 10, 30, 0, 1)),
    (dt.date, "2026-12-06", dt.date(2026, 12, 6)),
    (dt.time, "10:30:00", dt.time(10, 30)),
    (uuid.UUID, ID, uuid.UUID(ID)),
    (uuid.UUID, ID.upper(), uuid.UUID(ID)),
    (Decimal, "12.50", Decimal("12.50")),
    (Decimal, "-1E+3", Decimal("-1E+3")),
    (list[int], [1, 2], [1, 2]),
    (list, [1, "a", None], [1, "a", None]),
    (tuple[int, str], [1, "a"], (1, "a")),
    (tuple[int, ...], [], ()),
    (tuple[()], [], ()),
    (dict[str, int], {"a": 1}, {"a": 1}),
    (dict[int, str], {"-1": "a", "0": "b"}, {-1: "a", 0: "b"}),
    (dict[Color, int], {"red": 1}, {Color.RED: 1}),
    (dict[uuid.UUID, int], {ID: 1}, {uuid.UUID(ID): 1}),
    (set[int], [2, 1], {1, 2}),
    (frozenset[str], ["a"], frozenset({"a"})),
    (Customer, {"name": "Ann"}, Customer("Ann")),
    (Order, {"order_id": "A1", "customer": {"name": "Ann"}}, Order("A1", Customer("Ann"))),
    (Cat | Dog, {"name": "Rex", "barks": True}, Dog("Rex", True)),
    (Cat | Dog | None, None, None),
    (Tree, {"value": 1, "children": [{"value": 2}]}, Tree(1, [Tree(2)])),
    (Any, {"a": [1, 2.5, None, True, "x"]}, {"a": [1, 2.5, None, True, "x"]}),
]


@pytest.mark.parametrize(("type_", "data", "value"), ACCEPTED)
def test_each_type_takes_its_json_form(type_: Any, data: Any, value: Any) -> None:
    got = from_json_value(data, type_, path="input")
    assert got == value
    assert type(got) is type(value)


REFUSED: list[tuple[Any, Any, list[str]]] = [
    (str, {"not": "a string"}, ["expected a string, got an object @ input"]),
    (str, 12, ["expected a string, got a number @ input"]),
    (str, None, ["expected a string, got null @ input"]),
    (str, ["x"], ["expected a string, got an array @ input"]),
    (
        str,
        "a\ud800",
        ["a string with a lone surrogate (\\ud800 at index 1) is not valid text @ input"],
    ),
    (int, True, ["expected an integer, got a boolean @ input"]),
    (int, "12", ["expected an integer, got a string @ input"]),
    (int, 12.5, ["expected an integer, got 12.5 @ input"]),
    (int, 12.0, ["expected an integer, got 12.0 @ input"]),
    (float, True, ["expected a number, got a boolean @ input"]),
    (float, "1.5", ["expected a number, got a string @ input"]),
    (float, 10**400, ["expected a number, got an integer too large for a float @ input"]),
    (bool, 1, ["expected a boolean, got a number @ input"]),
    (bool, "true", ["expected a boolean, got a string @ input"]),
    (NoneType, 0, ["expected null, got a number @ input"]),
    (str | None, 1, ["expected a string or null, got a number @ input"]),
    (int | str | None, 1.5, ["expected an integer, a string or null, got a number @ input"]),
    (Literal["a", 1], True, ['expected one of "a", 1, got true @ input']),
    (Color, "green", ['expected one of "red", "blue", got "green" @ input']),
    (Level, 1.0, ["expected one of 1, 2, got 1.0 @ input"]),
    (dt.datetime, "yesterday", ['expected a date-time string (ISO 8601), got "yesterday" @ input']),
    (dt.date, 20261206, ["expected a date string (ISO 8601), got a number @ input"]),
    (
        dt.date,
        "2026-12-06T10:00",
        ['expected a date string (ISO 8601), got "2026-12-06T10:00" @ input'],
    ),
    (dt.time, "25:00", ['expected a time string (ISO 8601), got "25:00" @ input']),
    (
        uuid.UUID,
        "{" + ID + "}",
        [f'expected a UUID string (8-4-4-4-12 hex digits), got "{{{ID}}}" @ input'],
    ),
    (
        uuid.UUID,
        ID.replace("-", ""),
        [f'expected a UUID string (8-4-4-4-12 hex digits), got "{ID.replace("-", "")}" @ input'],
    ),
    (Decimal, 12.5, ["expected a decimal number as a string, got a number @ input"]),
    (Decimal, "NaN", ['expected a decimal number as a string, got "NaN" @ input']),
    (Decimal, "1_000", ['expected a decimal number as a string, got "1_000" @ input']),
    (list[int], {"a": 1}, ["expected an array, got an object @ input"]),
    (list[int], "12", ["expected an array, got a string @ input"]),
    (
        list[int],
        [1, "2", 3.5],
        ["expected an integer, got a string @ input[1]", "expected an integer, got 3.5 @ input[2]"],
    ),
    (tuple[int, str], [1], ["expected an array of 2 items, got 1 @ input"]),
    (tuple[int, str], [1, 2], ["expected a string, got a number @ input[1]"]),
    (dict[str, int], [["a", 1]], ["expected an object, got an array @ input"]),
    (dict[str, int], {"a": "1"}, ["expected an integer, got a string @ input['a']"]),
    (dict[int, str], {"01": "a"}, ["invalid key: expected an integer, got \"01\" @ input['01']"]),
    (set[int], [1, 2, 1], ["a repeated item (a set holds each once) @ input[2]"]),
    (Customer, None, ["expected an object, got null @ input"]),
    (Customer, {}, ["required field missing @ input.name"]),
    (
        Order,
        {"order_id": 7, "customer": {"name": 5}, "lines": [1, "x"], "note": ""},
        [
            "expected a string, got a number @ input.order_id",
            "expected a string, got a number @ input.customer.name",
            "expected an integer, got a string @ input.lines[1]",
            "extra fields found (note) @ input",
        ],
    ),
    (
        Cat | Dog,
        {"name": "Rex"},
        ["expected an object of Cat or Dog: no field tells which @ input"],
    ),
    (Cat | Dog, "Rex", ["expected an object, got a string @ input"]),
    (
        Any,
        {"a": ["\udfff"]},
        ["a string with a lone surrogate (\\udfff at index 0) is not valid text @ input['a'][0]"],
    ),
    (Any, {"a": math.nan}, ["nan is not a JSON number @ input['a']"]),
    (Any, (1, 2), ["expected JSON data, got a tuple (not JSON data) @ input"]),
]


@pytest.mark.parametrize(("type_", "data", "problems"), REFUSED)
def test_each_type_refuses_other_json_naming_path_and_expectation(
    type_: Any, data: Any, problems: list[str]
) -> None:
    with pytest.raises(InvalidInput) as caught:
        from_json_value(data, type_, path="input")
    assert caught.value.problems == problems


def _nested(levels: int) -> Any:
    data: Any = 0
    for _ in range(levels):
        data = [data]
    return data


def _tree(levels: int) -> dict[str, Any]:
    """A Tree whose JSON nests ``levels`` containers (an object and an array per node)."""
    data: dict[str, Any] = {"value": 0}
    for _ in range(levels // 2 - 1):
        data = {"value": 0, "children": [data]}
    return data


def test_values_nested_up_to_the_limit_pass_and_deeper_ones_are_refused() -> None:
    assert from_json_value(_nested(MAX_DEPTH), Any, path="input") == _nested(MAX_DEPTH)
    assert to_json_value(_nested(MAX_DEPTH)) == _nested(MAX_DEPTH)
    assert from_json_value(_tree(MAX_DEPTH), Tree, path="input").value == 0
    too_deep = [f"nested deeper than {MAX_DEPTH} levels @ input"]
    for data, type_ in [(_nested(MAX_DEPTH + 1), Any), (_tree(MAX_DEPTH + 2), Tree)]:
        with pytest.raises(InvalidInput) as caught:
            from_json_value(data, type_, path="input")
        assert caught.value.problems == too_deep
        with pytest.raises(InvalidInput) as caught:
            to_json_value(data, path="input")
        assert caught.value.problems == too_deep


def test_no_recursion_error_escapes_however_deep_the_value() -> None:
    for data in (_nested(50_000), _tree(50_000)):
        for type_ in (Any, Tree, list[Any]):
            with pytest.raises(InvalidInput):
                from_json_value(data, type_, path="input")
        with pytest.raises(InvalidInput):
            to_json_value(data)


# --- out to JSON ----------------------------------------------------------------------


def test_each_python_type_has_one_json_form() -> None:
    value = {
        "set": {3, 1, 2},
        "strings": frozenset({"b", "a", "c"}),
        "tuple": (1, (2, 3)),
        "color": Color.RED,
        "level": Level.HIGH,
        "when": dt.datetime(2026, 12, 6, 10, 30, tzinfo=dt.UTC),
        "day": dt.date(2026, 12, 6),
        "time": dt.time(10, 30),
        "id": uuid.UUID(ID),
        "amount": Decimal("12.50"),
        "order": Order("A1", Customer("Ann"), [1]),
        "keys": {1: "a", Color.BLUE: "b", uuid.UUID(ID): "c"},
    }
    assert to_json_value(value) == {
        "set": [1, 2, 3],
        "strings": ["a", "b", "c"],
        "tuple": [1, [2, 3]],
        "color": "red",
        "level": 2,
        "when": "2026-12-06T10:30:00+00:00",
        "day": "2026-12-06",
        "time": "10:30:00",
        "id": ID,
        "amount": "12.50",
        "order": {"order_id": "A1", "customer": {"name": "Ann"}, "lines": [1]},
        "keys": {"1": "a", "blue": "b", ID: "c"},
    }


def test_a_set_of_mixed_items_encodes_in_one_order_whatever_its_history() -> None:
    first = {"b", 10, 2, "a", Customer("x")}
    second = set(reversed(list(first)))
    assert dumps(to_json_value(first)) == dumps(to_json_value(second))


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (math.nan, "nan is not a JSON number @ output"),
        ({"a": [1, math.inf]}, "inf is not a JSON number @ output['a'][1]"),
        (Decimal("NaN"), "Decimal('NaN') is not a JSON number @ output"),
        (
            {"a": "\ud800"},
            "a string with a lone surrogate (\\ud800 at index 0) is not valid text @ output['a']",
        ),
        (
            {"\ud800": 1},
            "a key: a string with a lone surrogate (\\ud800 at index 0) is not valid text"
            " @ output['\\ud800']",
        ),
        (Customer(b"x"), "a value of type bytes has no JSON form @ output.name"),  # type: ignore[arg-type]
        ({1.5: "a"}, "a key of type float has no JSON form (keys are text) @ output[1.5]"),
        ({1: "a", "1": "b"}, "two keys have the same text @ output"),
        ([object()], "a value of type object has no JSON form @ output[0]"),
    ],
)
def test_to_json_value_refuses_what_has_no_json_form_naming_where(value: Any, problem: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        to_json_value(value, path="output")
    assert caught.value.problems == [problem]


# --- annotations the converter cannot handle -------------------------------------------

T = TypeVar("T")


@attrs.frozen
class Box(Generic[T]):
    item: T


@attrs.frozen
class Blob:
    data: bytes


@attrs.frozen
class Loose:
    name: str = ""


@attrs.frozen
class Looser:
    name: str = ""


@pytest.mark.parametrize(
    ("type_", "problem"),
    [
        (bytes, "bytes has no JSON form"),
        (list[complex], "complex has no JSON form"),
        (Blob, "Blob.data: bytes has no JSON form"),
        (dict[float, int], "dict keys of type float have no JSON form"),
        (str | dt.datetime, "is ambiguous: str, datetime all take JSON strings"),
        (list[int] | tuple[int, ...], "all take JSON arrays"),
        (Customer | dict[str, Any], "is ambiguous: Customer, dict"),
        (Loose | Looser, "Loose or Looser cannot be told apart"),
        (set[list[int]], "set items of type list are not hashable"),
        (Box, "Box is generic"),
        (T, "the type variable ~T has no JSON form"),
        ("Customer", "the annotation 'Customer' is not resolved"),
    ],
)
def test_an_annotation_without_json_form_is_a_type_error_naming_it(
    type_: Any, problem: str
) -> None:
    with pytest.raises(TypeError) as caught:
        check_type(type_)
    assert problem in str(caught.value)
