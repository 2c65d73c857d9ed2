"""FEEL against Python, as Hypothesis properties: numbers follow decimal arithmetic (34
digits), string functions agree with Python's string methods, and for/some/every agree
with comprehensions, any() and all()."""

from __future__ import annotations

import decimal
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.bpmn import evaluate_expression

CONTEXT = decimal.Context(prec=34)
numbers = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.decimals(
        min_value=-(10**9), max_value=10**9, allow_nan=False, allow_infinity=False, places=6
    ),
)
texts = st.text(max_size=20)


def feel(expression: str, **variables: Any) -> Any:
    return evaluate_expression(expression, variables)


def plain(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


@settings(max_examples=200)
@given(numbers, numbers)
def test_arithmetic_is_decimal_arithmetic(a: int | Decimal, b: int | Decimal) -> None:
    x, y = Decimal(a), Decimal(b)
    assert feel("a + b", a=a, b=b) == plain(CONTEXT.add(x, y))
    assert feel("a - b", a=a, b=b) == plain(CONTEXT.subtract(x, y))
    assert feel("a * b", a=a, b=b) == plain(CONTEXT.multiply(x, y))
    if y:
        assert feel("a / b", a=a, b=b) == plain(CONTEXT.divide(x, y))
    else:
        assert feel("a / b", a=a, b=b) is None


@settings(max_examples=200)
@given(numbers, numbers)
def test_comparisons_are_decimal_comparisons(a: int | Decimal, b: int | Decimal) -> None:
    x, y = Decimal(a), Decimal(b)
    assert feel("a < b", a=a, b=b) == (x < y)
    assert feel("a <= b", a=a, b=b) == (x <= y)
    assert feel("a > b", a=a, b=b) == (x > y)
    assert feel("a = b", a=a, b=b) == (x == y)
    assert feel("a != b", a=a, b=b) == (x != y)
    assert feel("a between b and c", a=a, b=b, c=b) == (x == y)


@settings(max_examples=100)
@given(numbers, texts)
def test_comparing_a_number_with_a_string_is_null(a: int | Decimal, s: str) -> None:
    assert feel("a < s", a=a, s=s) is None
    assert feel("a = s", a=a, s=s) is None
    assert feel("a + s", a=a, s=s) is None


@settings(max_examples=200)
@given(texts, texts)
def test_string_functions_agree_with_python(s: str, t: str) -> None:
    assert feel("upper case(s)", s=s) == s.upper()
    assert feel("lower case(s)", s=s) == s.lower()
    assert feel("string length(s)", s=s) == len(s)
    assert feel("contains(s, t)", s=s, t=t) == (t in s)
    assert feel("starts with(s, t)", s=s, t=t) == s.startswith(t)
    assert feel("ends with(s, t)", s=s, t=t) == s.endswith(t)
    assert feel("s + t", s=s, t=t) == s + t
    assert feel("s < t", s=s, t=t) == (s < t)
    index = s.find(t)
    before, after = (s[:index], s[index + len(t) :]) if index >= 0 else ("", "")
    assert feel("substring before(s, t)", s=s, t=t) == before
    assert feel("substring after(s, t)", s=s, t=t) == after


@settings(max_examples=200)
@given(texts, st.integers(min_value=1, max_value=25), st.integers(min_value=0, max_value=25))
def test_substring_is_a_one_based_slice(s: str, start: int, length: int) -> None:
    assert feel("substring(s, start)", s=s, start=start) == s[start - 1 :]
    assert (
        feel("substring(s, start, n)", s=s, start=start, n=length)
        == s[start - 1 : start - 1 + length]
    )


@settings(max_examples=100)
@given(st.lists(texts, max_size=6), texts)
def test_string_join_is_str_join(items: list[str], delimiter: str) -> None:
    assert feel("string join(xs, d)", xs=items, d=delimiter) == delimiter.join(items)


small_ints = st.integers(min_value=-1000, max_value=1000)


@settings(max_examples=200)
@given(st.lists(small_ints, max_size=8), small_ints)
def test_for_some_and_every_agree_with_comprehensions(xs: list[int], t: int) -> None:
    assert feel("for x in xs return x * 2 + t", xs=xs, t=t) == [x * 2 + t for x in xs]
    assert feel("some x in xs satisfies x > t", xs=xs, t=t) == any(x > t for x in xs)
    assert feel("every x in xs satisfies x > t", xs=xs, t=t) == all(x > t for x in xs)
    assert feel("xs[item > t]", xs=xs, t=t) == [x for x in xs if x > t]
    assert feel("count(xs)", xs=xs) == len(xs)
    assert feel("sum(xs)", xs=xs) == sum(xs)
    assert feel("sort(xs)", xs=xs) == sorted(xs)
    assert feel("distinct values(xs)", xs=xs) == list(dict.fromkeys(xs))
    assert feel("list contains(xs, t)", xs=xs, t=t) == (t in xs)
    assert feel("index of(xs, t)", xs=xs, t=t) == [i for i, x in enumerate(xs, 1) if x == t]


@settings(max_examples=100)
@given(st.lists(small_ints, max_size=4), st.lists(small_ints, max_size=4))
def test_two_iteration_contexts_are_nested_loops(xs: list[int], ys: list[int]) -> None:
    assert feel("for x in xs, y in ys return x - y", xs=xs, ys=ys) == [
        x - y for x in xs for y in ys
    ]
    assert feel("some x in xs, y in ys satisfies x = y", xs=xs, ys=ys) == any(
        x == y for x in xs for y in ys
    )


@settings(max_examples=100)
@given(small_ints, small_ints)
def test_ranges_count_both_ends(low: int, high: int) -> None:
    step = 1 if low <= high else -1
    assert feel("for i in a..b return i", a=low, b=high) == list(range(low, high + step, step))
    assert feel("x in [a..b]", x=low, a=min(low, high), b=max(low, high)) is True
