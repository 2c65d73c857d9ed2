"""FEEL built-ins and constructs Camunda users write: expected results from the FEEL
specification (DMN 1.4, chapter 10) and Camunda's FEEL reference, written out by hand."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from runtime.bpmn import YearsMonths, evaluate_expression

NOW = dt.datetime(2026, 3, 1, 12, 30, tzinfo=dt.UTC)
PARIS = dt.timezone(dt.timedelta(hours=1))


def feel(expression: str, **variables: Any) -> Any:
    return evaluate_expression(expression, variables, now=NOW)


TEMPORAL = [
    ("now()", NOW),
    ("today()", dt.date(2026, 3, 1)),
    ("now() instance of date and time", True),
    ('date("2012-12-25")', dt.date(2012, 12, 25)),
    ("date(2012, 12, 25)", dt.date(2012, 12, 25)),
    ('date(date and time("2012-12-25T11:00:00"))', dt.date(2012, 12, 25)),
    ('date("2012-13-25")', None),
    ('date("25.12.2012")', None),
    ('time("23:59:00")', dt.time(23, 59)),
    ('time("23:59:00+01:00")', dt.time(23, 59, tzinfo=PARIS)),
    ("time(23, 59, 0)", dt.time(23, 59)),
    ('time(14, 30, 0, duration("PT1H"))', dt.time(14, 30, tzinfo=PARIS)),
    ('time(date and time("2012-12-25T11:00:00"))', dt.time(11)),
    ('time("24:00:01")', None),
    ('date and time("2012-12-24T23:59:00")', dt.datetime(2012, 12, 24, 23, 59)),
    ('date and time("2012-12-24T23:59:00Z")', dt.datetime(2012, 12, 24, 23, 59, tzinfo=dt.UTC)),
    (
        'date and time(date("2012-12-24"), time("23:59:00"))',
        dt.datetime(2012, 12, 24, 23, 59),
    ),
    ('duration("P1DT23H12M30S")', dt.timedelta(days=1, hours=23, minutes=12, seconds=30)),
    ('duration("-PT2H")', -dt.timedelta(hours=2)),
    ('duration("P2Y4M")', YearsMonths(28)),
    ('duration("P1Y2D")', None),
    ('years and months duration(date("2011-12-22"), date("2013-08-24"))', YearsMonths(20)),
    ('string(duration("P14M"))', "P1Y2M"),
    ('string(duration("PT0S"))', "PT0S"),
    ('string(date and time("2018-01-01T10:00:00Z"))', "2018-01-01T10:00:00Z"),
    # arithmetic (the specification's table 57) and comparisons
    ('date("2012-12-25") + duration("P1D")', dt.date(2012, 12, 26)),
    ('date("2012-12-25") - date("2012-12-24")', dt.timedelta(days=1)),
    ('date("2021-01-31") + duration("P1M")', dt.date(2021, 2, 28)),
    ('date("2012-12-25") + duration("P1Y")', dt.date(2013, 12, 25)),
    (
        'date and time("2012-12-24T23:59:00") + duration("PT1M")',
        dt.datetime(2012, 12, 25, 0, 0),
    ),
    ('date and time("2012-12-24T12:00:00") - duration("P1M")', dt.datetime(2012, 11, 24, 12)),
    ('time("23:00:00") + duration("PT2H")', dt.time(1)),
    ('time("10:00:00") - time("08:30:00")', dt.timedelta(hours=1, minutes=30)),
    ('duration("P1D") + duration("PT6H")', dt.timedelta(days=1, hours=6)),
    ('duration("P1Y") - duration("P3M")', YearsMonths(9)),
    ('duration("P1Y") * 2', YearsMonths(24)),
    ('duration("PT1H") / 4', dt.timedelta(minutes=15)),
    ('duration("P1Y") / duration("P1M")', 12),
    ('date("2012-12-25") + 1', None),
    ('duration("P1Y") + duration("P1D")', None),
    ('date("2012-12-24") < date("2012-12-25")', True),
    ('time("10:00:00") > time("09:00:00")', True),
    ('duration("P1Y") > duration("P11M")', True),
    ('duration("P1D") = duration("PT24H")', True),
    ('date("2012-12-25") = date and time("2012-12-25T00:00:00")', None),
    ('date("2012-12-25") < "2013-01-01"', None),
    ('now() - duration("P1D") < now()', True),
    # properties
    ('date("2012-12-25").year', 2012),
    ('date("2012-12-25").weekday', 2),
    ('date and time("2012-12-25T11:30:00").hour', 11),
    ('duration("P2DT3H").days', 2),
    ('duration("P2DT3H").hours', 3),
    ('duration("P2Y4M").years', 2),
    ('duration("P2Y4M").months', 4),
    ('day of week(date("2019-09-17"))', "Tuesday"),
    ('month of year(date("2019-09-17"))', "September"),
]


ITERATION = [
    ("for i in [1, 2, 3] return i * i", [1, 4, 9]),
    ("for i in 1..3 return i * 10", [10, 20, 30]),
    ("for i in 3..1 return i", [3, 2, 1]),
    ("for x in [1, 2], y in [10, 20] return x + y", [11, 21, 12, 22]),
    ("for i in 0..4 return if i = 0 then 1 else i * partial[-1]", [1, 1, 2, 6, 24]),
    ("for x in [] return x", []),
    ("for x in nothing return x", None),
    ("for i in 1..100000, j in 1..100000 return i", None),  # too many rounds: null
    ("count(for i in 1..1000, j in 1..10 return i)", 10000),
    ("for o in orders return o.total", [10, 25]),
    ("some x in [1, 2, 3] satisfies x > 2", True),
    ("some x in [1, 2, 3] satisfies x > 3", False),
    ("some x in [] satisfies x > 3", False),
    ("every x in [1, 2, 3] satisfies x >= 1", True),
    ("every x in [1, 2, 3] satisfies x >= 2", False),
    ("every x in [] satisfies false", True),
    ("every x in [1, 2], y in [3, 4] satisfies x < y", True),
    ("every x in [1, 2], y in [2, 3] satisfies x < y", False),
    ("some o in orders satisfies o.total > 20", True),
    ("some x in nothing satisfies x", None),
    ("5 instance of number", True),
    ('"5" instance of number', False),
    ('"a" instance of string', True),
    ("true instance of boolean", True),
    ('date("2020-01-01") instance of date', True),
    ('date("2020-01-01") instance of date and time', False),
    ('time("10:00:00") instance of time', True),
    ('duration("P1D") instance of days and time duration', True),
    ('duration("P1Y") instance of years and months duration', True),
    ("[1, 2] instance of list", True),
    ("[1, 2] instance of list<number>", True),
    ('[1, "a"] instance of list<number>', False),
    ("{a: 1} instance of context", True),
    ("null instance of Null", True),
    ("null instance of Any", False),
    ("1 instance of Any", True),
    ("(function(x) x) instance of function", True),
    ("3 in [1..5]", True),
    ("6 in [1..5]", False),
    ("5 in [1..5)", False),
    ("2 in (1, 2, 3)", True),
    ("4 in (1, 2, 3)", False),
    ('"b" in ["a".."c"]', True),
    ('date("2020-06-01") in [date("2020-01-01")..date("2020-12-31")]', True),
]


FUNCTIONS = [
    # lists (the specification's table 76)
    ("count([1, 2, 3])", 3),
    ("sum([1, 2, 3])", 6),
    ("sum(1, 2, 3)", 6),
    ("min([1, 2, 3])", 1),
    ("max(1, 2, 3)", 3),
    ("mean([1, 2, 3])", 2),
    ("mean(1, 2, 3)", 2),
    ("median(8, 2, 5, 3, 4)", 4),
    ("median([6, 1, 2, 3])", 2.5),
    ("product(2, 3, 4)", 24),
    ("list contains([1, 2, 3], 2)", True),
    ("list contains([1, null], null)", True),
    ("append([1], 2, 3)", [1, 2, 3]),
    ("concatenate([1, 2], [3])", [1, 2, 3]),
    ("distinct values([1, 2, 3, 2, 1])", [1, 2, 3]),
    ("index of([1, 2, 3, 2], 2)", [2, 4]),
    ("index of([1, 2], 9)", []),
    ("sort([3, 1, 4, 2])", [1, 2, 3, 4]),
    ("sort([3, 1, 4, 2], function(x, y) x > y)", [4, 3, 2, 1]),
    ('sort(["b", "a"])', ["a", "b"]),
    ('sort([1, "a"])', None),
    ("flatten([[1, 2], [[3]], 4])", [1, 2, 3, 4]),
    ("reverse([1, 2, 3])", [3, 2, 1]),
    ("sublist([4, 5, 6], 1, 2)", [4, 5]),
    ("union([1, 2], [2, 3])", [1, 2, 3]),
    ("count(nothing)", None),
    # strings (table 74)
    ('matches("foobar", "^fo*b")', True),
    ('matches("FooBar", "foo", "i")', True),
    ('matches("abc", "[")', None),
    ('matches("aaaa", "(a+)+$")', None),  # nested quantifiers are refused
    (r'split("John Doe", "\\s")', ["John", "Doe"]),
    ('split("a;b;c;;", ";")', ["a", "b", "c", "", ""]),
    ('replace("abcd", "(ab)|(a)", "[1=$1][2=$2]")', "[1=ab][2=]cd"),
    (r'replace("0123456789", "(\\d{3})(\\d{3})(\\d{4})", "($1) $2-$3")', "(012) 345-6789"),
    ('replace("abc", "", "x")', None),
    ('upper case("aBc4")', "ABC4"),
    ('lower case("aBc4")', "abc4"),
    ('substring before("foobar", "bar")', "foo"),
    ('substring before("foobar", "xyz")', ""),
    ('substring before("foobar", "")', ""),
    ('substring after("foobar", "")', "foobar"),
    ('substring after("foobar", "ob")', "ar"),
    ('substring after("", "a")', ""),
    ('string join(["a", "b", "c"], "_and_")', "a_and_b_and_c"),
    ('string join(["a", "b"], ", ", "[", "]")', "[a, b]"),
    ('starts with("foobar", "fo")', True),
    ('ends with("foobar", "r")', True),
    ('contains("foobar", "of")', False),
    # numbers (table 75)
    ("floor(1.5)", 1),
    ("floor(-1.5)", -2),
    ("floor(-1.56, 1)", -1.6),
    ("ceiling(1.5)", 2),
    ("ceiling(-1.56, 1)", -1.5),
    ("round up(5.5)", 6),
    ("round up(-5.5)", -6),
    ("round up(1.121, 2)", 1.13),
    ("round down(5.5)", 5),
    ("round down(-5.5)", -5),
    ("round down(1.129, 2)", 1.12),
    ("round half up(5.5)", 6),
    ("round half up(-5.5)", -6),
    ("round half up(1.125, 2)", 1.13),
    ("round half down(5.5)", 5),
    ("decimal(1 / 3, 2)", 0.33),
    ("decimal(1.5, 0)", 2),
    ("decimal(2.5, 0)", 2),
    ("abs(10)", 10),
    ("abs(-10)", 10),
    ('abs(duration("-PT5M"))', dt.timedelta(minutes=5)),
    ("modulo(12, 5)", 2),
    ("modulo(-12, 5)", 3),
    ("modulo(12, -5)", -3),
    ("modulo(-12, -5)", -2),
    ("modulo(10.1, 4.5)", 1.1),
    ("sqrt(16)", 4),
    ("odd(5)", True),
    ("even(5)", False),
    # Camunda's extensions
    ("is empty([])", True),
    ("is empty([1])", False),
    ('is blank("  ")', True),
    ('is blank(" a ")', False),
    ("duplicate values([1, 2, 3, 2, 1, 1])", [2, 1]),
    ("partition([1, 2, 3, 4, 5], 2)", [[1, 2], [3, 4], [5]]),
    (r'extract("this is foobar and folbar", "fo[a-z]*")', ["foobar", "folbar"]),
    ('last day of month(date("2024-02-10"))', dt.date(2024, 2, 29)),
    ('from json("{\\"a\\": [1, 2.5, null]}")', {"a": [1, 2.5, None]}),
    ('from json("nope")', None),
    (
        'to json({a: [1, "x", null], d: date("2020-01-02")})',
        '{"a":[1, "x", null], "d":"2020-01-02"}',
    ),
    # contexts
    ('get value({a: 1}, "a")', 1),
    ('get value({a: {b: 2}}, ["a", "b"])', 2),
    ('get value({a: 1}, "z")', None),
    ("get entries({a: 1, b: 2})", [{"key": "a", "value": 1}, {"key": "b", "value": 2}]),
    ('context put({a: 1}, "b", 2)', {"a": 1, "b": 2}),
    ('context put({a: 1}, "a", 3)', {"a": 3}),
    ('context put({a: {b: 1}}, ["a", "c"], 2)', {"a": {"b": 1, "c": 2}}),
    ("context merge([{a: 1}, {b: 2}])", {"a": 1, "b": 2}),
    ('context([{key: "a", value: 1}])', {"a": 1}),
]


NULLS = [
    ("missing", None),
    ("0 ** -2.5", None),
    ("missing + 1", None),
    ("missing.field", None),
    ("missing > 1", None),
    ("missing = null", True),
    ('1 < "2"', None),
    ('"a" = 1', None),
    ("true > false", None),
    ("[1] < [2]", None),
    ('date("2020-01-01") > 5', None),
    ("1 + true", None),
    ("upper case(missing)", None),
    ("if missing > 1 then 1 else 2", 2),
    ("missing > 1 or true", True),
    ("missing > 1 and true", None),
]


@pytest.mark.parametrize(("expression", "expected"), TEMPORAL + ITERATION + FUNCTIONS + NULLS)
def test_feel(expression: str, expected: Any) -> None:
    orders = [{"total": 10}, {"total": 25}]
    assert feel(expression, orders=orders, nothing=None) == expected


def test_now_and_today_are_null_without_an_instance_clock() -> None:
    assert evaluate_expression("now()", {}) is None
    assert evaluate_expression("today()", {}) is None
    assert evaluate_expression("now()", {}, now=NOW) == NOW
