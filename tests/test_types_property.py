"""Every value of an annotated type survives the runtime whole; every other JSON value is refused.

For a matrix of types ``T``: a value of ``T`` goes in through ``rt.start`` and through
``POST /workflows/{name}`` (a real Hypercorn on 127.0.0.1), into an activity taking and
returning ``T``, and comes back as the workflow's output, equal and of the same type (the
workflow checks the activity's result against its input; the test checks the output).
Then the runtime closes, opens again on the same file, and gives the same outputs, and
replaying each journal against the code finds nothing changed. JSON data drawn near ``T``
is accepted exactly when a model of the rules (``fits``) says so; otherwise it is refused
with a path that leads into the data, and ``rt.start`` journals nothing.

``TRIOFLOW_HYPOTHESIS_PROFILE=thorough`` runs many more examples (see tests/conftest.py).
"""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import enum
import math
import re
import tempfile
import types
import typing
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import attrs
import httpx
import trio
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from api import create_app, serve
from runtime import InvalidInput, Runtime, WorkflowContext, activity, workflow
from runtime._convert import from_json_value, to_json_value

NoneType = type(None)


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@attrs.frozen
class Customer:
    name: str
    vip: bool = False


@dataclasses.dataclass(frozen=True)
class Order:
    order_id: str
    customer: Customer
    amounts: tuple[float, ...]
    placed: dt.date | None = None


@attrs.frozen
class Cat:
    name: str
    meows: int


@attrs.frozen
class Dog:
    name: str
    barks: bool


@attrs.frozen
class Tree:
    value: int
    children: list[Tree] = attrs.field(factory=list)


def _finite(value: Any) -> bool:
    try:
        to_json_value(value)
    except InvalidInput:
        return False
    return True


JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
JSON = st.recursive(
    JSON_SCALARS.filter(_finite),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)
OFFSETS = st.integers(-23 * 60, 23 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
TREES = st.recursive(
    st.builds(Tree, st.integers()),
    lambda inner: st.builds(Tree, st.integers(), st.lists(inner, max_size=3)),
    max_leaves=8,
)

# (name, type, values of the type); st.from_type unless the type needs its own strategy.
MATRIX: list[tuple[str, Any, st.SearchStrategy[Any]]] = [
    ("str", str, st.from_type(str)),
    ("int", int, st.from_type(int)),
    ("float", float, st.floats(allow_nan=False, allow_infinity=False)),
    ("bool", bool, st.from_type(bool)),
    ("none", NoneType, st.none()),
    ("optional", int | None, st.from_type(int | None)),
    ("union", int | str | None, st.from_type(int | str | None)),
    ("number", int | float, st.integers() | st.floats(allow_nan=False, allow_infinity=False)),
    ("literal", Literal["a", "b", 3], st.from_type(Literal["a", "b", 3])),
    ("enum", Color, st.from_type(Color)),
    ("intenum", Level, st.from_type(Level)),
    ("datetime", dt.datetime, st.datetimes(timezones=st.none() | st.just(dt.UTC) | OFFSETS)),
    ("date", dt.date, st.from_type(dt.date)),
    ("time", dt.time, st.from_type(dt.time)),
    ("uuid", uuid.UUID, st.from_type(uuid.UUID)),
    ("decimal", Decimal, st.decimals(allow_nan=False, allow_infinity=False)),
    ("list", list[int], st.from_type(list[int])),
    ("tuple", tuple[int, str, bool], st.from_type(tuple[int, str, bool])),
    ("tuple_var", tuple[str, ...], st.from_type(tuple[str, ...])),
    ("dict", dict[str, int | None], st.from_type(dict[str, int | None])),
    ("int_keys", dict[int, Color], st.from_type(dict[int, Color])),
    ("set", set[int], st.from_type(set[int])),
    ("frozenset", frozenset[str], st.from_type(frozenset[str])),
    ("class", Customer, st.from_type(Customer)),
    ("nested", Order, st.from_type(Order).filter(_finite)),
    ("classes", Cat | Dog | None, st.from_type(Cat | Dog | None)),
    ("tree", Tree, TREES),
    ("any", Any, JSON),
]
TYPES = {name: type_ for name, type_, _ in MATRIX}


def same(a: Any, b: Any) -> bool:
    """Equal, and of the same type all the way down."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        keys = {(type(k), k) for k in a}
        return keys == {(type(k), k) for k in b} and all(same(a[k], b[k]) for k in a)
    if isinstance(a, set | frozenset):
        return {(type(x), x) for x in a} == {(type(x), x) for x in b}
    if attrs.has(type(a)) or dataclasses.is_dataclass(a):
        names = [
            f.name for f in (attrs.fields(type(a)) if attrs.has(type(a)) else dataclasses.fields(a))
        ]
        return all(same(getattr(a, n), getattr(b, n)) for n in names)
    if isinstance(a, dt.datetime | dt.time):
        return bool(a == b) and a.utcoffset() == b.utcoffset()
    return bool(a == b)


def _define(name: str, type_: Any) -> None:
    """An activity returning its argument and a workflow checking what came back, for T."""

    async def echo(value: Any) -> Any:
        return value

    echo.__annotations__ = {"value": type_, "return": type_}
    echoed = activity(name=f"tp_echo_{name}")(echo)

    async def flow(ctx: WorkflowContext, value: Any) -> Any:
        back = await ctx.run(echoed, value)
        if not same(back, value):
            raise AssertionError(f"the activity gave back {back!r} for {value!r}")
        return back

    flow.__annotations__ = {"ctx": WorkflowContext, "value": type_, "return": type_}
    workflow(name=f"tp_{name}")(flow)


for _name, _type, _ in MATRIX:
    _define(_name, _type)

CASES = st.one_of([st.tuples(st.just(name), values) for name, _, values in MATRIX])


async def _served(nursery: trio.Nursery, rt: Runtime, stop: trio.Event) -> httpx.AsyncClient:
    """``rt`` over HTTP on a free port until ``stop`` is set (a graceful shutdown)."""
    addresses = await nursery.start(
        lambda task_status: serve(
            create_app(rt), port=0, shutdown_trigger=stop.wait, task_status=task_status
        )
    )
    return httpx.AsyncClient(base_url=addresses[0].replace("0.0.0.0", "127.0.0.1"), timeout=30)


async def _start_over_http(client: httpx.AsyncClient, name: str, data: Any) -> Any:
    started = await client.post(f"/workflows/tp_{name}", json=data)
    assert started.status_code == 202, started.text
    instance_id = started.json()["instance_id"]
    answer = await client.get(f"/instances/{instance_id}/result", params={"wait": 20})
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "completed", answer.text
    return instance_id, answer.json()["output"]


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    cases=st.lists(CASES, min_size=1, max_size=6),
    wrong=st.tuples(st.sampled_from(sorted(TYPES)), JSON),
)
def test_values_of_each_type_round_trip_through_start_activity_output_journal_and_http(
    cases: list[tuple[str, Any]], wrong: tuple[str, Any]
) -> None:
    async def main(path: str) -> None:
        started: list[tuple[str, str, Any]] = []
        async with Runtime.open(path) as rt:
            stop = trio.Event()
            async with trio.open_nursery() as nursery:
                async with await _served(nursery, rt, stop) as client:
                    for name, value in cases:
                        started.append((await rt.start(f"tp_{name}", value), name, value))
                        iid, output = await _start_over_http(client, name, to_json_value(value))
                        assert same(from_json_value(output, TYPES[name], path="output"), value)
                        started.append((iid, name, value))
                stop.set()
            for iid, name, value in started:
                output = await rt.result(iid, timeout=20)
                assert same(from_json_value(output, TYPES[name], path="output"), value)
            name, data = wrong
            if not fits(data, TYPES[name]):
                with_none = len((await rt.list(limit=500)).items)
                try:
                    await rt.start(f"tp_{name}", data)
                except InvalidInput:
                    pass
                else:
                    raise AssertionError(f"{data!r} was taken as {name}")
                assert len((await rt.list(limit=500)).items) == with_none
        async with Runtime.open(path) as rt:  # the journal, read back by another runtime
            for iid, name, value in started:
                output = await rt.result(iid, timeout=20)
                assert same(from_json_value(output, TYPES[name], path="output"), value)
                report = await rt.replay(iid)
                assert report.ok, report

    with tempfile.TemporaryDirectory() as tmp:
        trio.run(main, str(Path(tmp) / "types.db"))


# --- refusals -----------------------------------------------------------------------------


def _leaves(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(data, list):
        return [path, *(p for i, x in enumerate(data) for p in _leaves(x, (*path, i)))]
    if isinstance(data, dict):
        return [path, *(p for k, x in data.items() for p in _leaves(x, (*path, k)))]
    return [path]


def _replace(data: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = list(data) if isinstance(data, list) else dict(data)
    copy[path[0]] = _replace(data[path[0]], path[1:], new)
    return copy


@st.composite
def near(draw: st.DrawFn, name: str) -> Any:
    """JSON data near type ``name``: any JSON, another type's value, or one of its own with
    a part swapped for other JSON."""
    how = draw(st.sampled_from(["json", "other", "swap"]))
    if how == "json":
        return draw(JSON)
    if how == "other":
        _, _, values = MATRIX[draw(st.integers(0, len(MATRIX) - 1))]
        return to_json_value(draw(values))
    _, _, values = next(entry for entry in MATRIX if entry[0] == name)
    data = to_json_value(draw(values))
    return _replace(data, draw(st.sampled_from(_leaves(data))), draw(JSON))


@settings(
    max_examples=settings.default.max_examples * 20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.data())
def test_json_not_of_the_type_is_refused_naming_a_path_into_it(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(TYPES)), label="type")
    value = data.draw(near(name), label="data")
    type_ = TYPES[name]
    if fits(value, type_):
        event("fits")
        from_json_value(value, type_, path="input")
        return
    event("refused")
    try:
        from_json_value(value, type_, path="input")
    except InvalidInput as exc:
        assert exc.problems
        for problem in exc.problems:
            where = re.fullmatch(rf".+ @ input((?:{_STEP.pattern})*)", problem, re.DOTALL)
            assert where, problem
            _follow(value, where.group(1), problem)
    else:
        raise AssertionError(f"{value!r} was taken as {name}")


# ``.field``, ``[3]`` or ``['key']`` (a key as Python writes it, quotes escaped).
_STEP = re.compile(r"\.(\w+)|\[('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|-?\d+)\]")


def _follow(data: Any, path: str, problem: str) -> None:
    """The path, but for its last step (a missing field is named where it is missing), leads
    into ``data``."""
    steps = _STEP.findall(path)
    for attr, index in steps[:-1]:
        key: Any = attr or ast.literal_eval(index)
        assert isinstance(data, list | dict) and key in (
            data if isinstance(data, dict) else range(len(data))
        ), problem
        data = data[key]


# --- the model: which JSON data is of which type ------------------------------------------

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _parses(parse: Callable[[str], Any], data: Any) -> bool:
    if type(data) is not str:
        return False
    try:
        parse(data)
    except ValueError:
        return False
    return True


def _fields(cls: type, data: Any) -> bool:
    if type(data) is not dict:
        return False
    fields = (
        {a.name: a for a in attrs.fields(cls)}
        if attrs.has(cls)
        else {f.name: f for f in dataclasses.fields(cls)}
    )
    hints = typing.get_type_hints(cls)
    required = {
        n
        for n, f in fields.items()
        if f.default in (attrs.NOTHING, dataclasses.MISSING)
        and getattr(f, "default_factory", dataclasses.MISSING) is dataclasses.MISSING
    }
    return required <= data.keys() <= fields.keys() and all(
        fits(v, hints[k]) for k, v in data.items()
    )


def fits(data: Any, type_: Any) -> bool:
    """Whether the rules in README.md take ``data`` as a ``type_`` (for the matrix's types)."""
    kind = type(data)
    if type_ is Any:
        return True
    if type_ in (str, int, bool, NoneType):
        return kind is type_ or (type_ is NoneType and data is None)
    if type_ is float:
        return kind is float or (kind is int and abs(data) < 2**1024)
    if type_ is dt.datetime:
        return _parses(dt.datetime.fromisoformat, data)
    if type_ is dt.date:
        return _parses(dt.date.fromisoformat, data)
    if type_ is dt.time:
        return _parses(dt.time.fromisoformat, data)
    if type_ is uuid.UUID:
        return kind is str and bool(_UUID.fullmatch(data))
    if type_ is Decimal:
        return kind is str and bool(_DECIMAL.fullmatch(data))
    if type_ in (Color, Level):
        return any(kind is type(m.value) and data == m.value for m in type_)
    if type_ == Literal["a", "b", 3]:
        return (kind is str and data in ("a", "b")) or (kind is int and data == 3)
    if type_ == Cat | Dog | None:
        return data is None or (
            kind is dict and (_fields(Cat, data) if "meows" in data else _fields(Dog, data))
        )
    args = typing.get_args(type_)
    origin = typing.get_origin(type_)
    if origin is types.UnionType:
        return any(fits(data, arg) for arg in args)
    if origin in (list, set, frozenset) or (origin is tuple and args[-1] is Ellipsis):
        ok = kind is list and all(fits(x, args[0]) for x in data)
        return ok and (origin in (list, tuple) or len({(type(x), x) for x in data}) == len(data))
    if origin is tuple:
        return (
            kind is list
            and len(data) == len(args)
            and all(fits(x, t) for x, t in zip(data, args, strict=True))
        )
    if origin is dict:
        key_fits = (
            (lambda k: re.fullmatch(r"-?(?:0|[1-9][0-9]*)", k))
            if args[0] is int
            else (lambda k: True)
        )
        ints = [int(k) for k in data if args[0] is int and key_fits(k)] if kind is dict else []
        return (
            kind is dict
            and all(key_fits(k) and fits(v, args[1]) for k, v in data.items())
            and len(set(ints)) == len(ints)
        )
    if attrs.has(type_) or dataclasses.is_dataclass(type_):
        return _fields(type_, data)
    raise AssertionError(f"no model for {type_!r}")


def test_the_model_agrees_with_the_examples_of_test_convert() -> None:
    assert fits({"order_id": "A", "customer": {"name": "x"}, "amounts": [1, 2.5]}, Order)
    assert not fits({"order_id": "A", "customer": {"name": 1}, "amounts": []}, Order)
    assert not fits(math.pi, int) and fits(3, float) and not fits(True, float)
    assert fits({"name": "x", "meows": 2}, Cat | Dog | None) and not fits(
        {"name": "x"}, Cat | Dog | None
    )
