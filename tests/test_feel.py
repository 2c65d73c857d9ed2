"""The FEEL subset: every operator and function, null semantics, and error positions."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from runtime.bpmn import (
    Expression,
    FeelError,
    compile_expression,
    evaluate_condition,
    evaluate_expression,
)

VARIABLES: dict[str, Any] = {
    "amount": 150,
    "price": 19.99,
    "name": "Ada Lovelace",
    "nothing": None,
    "flag": True,
    "order": {
        "id": "O-1",
        "customer": {"tier": "gold"},
        "items": [{"sku": "a", "qty": 2}, {"sku": "b", "qty": 5}, {"sku": "c", "qty": 1}],
    },
    "numbers": [3, 1, 2],
    "my var": 7,
}


def feel(expression: str, **extra: Any) -> Any:
    return evaluate_expression(expression, {**VARIABLES, **extra})


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # literals
        ("42", 42),
        ("-1.5", -1.5),
        ('"hi \\"there\\"\\n\\u00e9"', 'hi "there"\né'),
        ("true", True),
        ("false", False),
        ("null", None),
        ("[1, 2, 3]", [1, 2, 3]),
        ("[]", []),
        ('{a: 1, "b c": 2, d: a + 1}', {"a": 1, "b c": 2, "d": 2}),
        ("{}", {}),
        # the leading = of Zeebe
        ("=amount", 150),
        ("  = amount", 150),
        # names and paths
        ("amount", 150),
        ("order.id", "O-1"),
        ("order.customer.tier", "gold"),
        ("order.items.sku", ["a", "b", "c"]),
        ("order.missing.deeper", None),
        ("`my var`", 7),
        ("unknown", None),
        ("{a: {b: 3}}.a.b", 3),
        # filters
        ("order.items[qty > 1].sku", ["a", "b"]),
        ("order.items[item.qty = 1]", [{"sku": "c", "qty": 1}]),
        ("numbers[1]", 3),
        ("numbers[-1]", 2),
        ("numbers[4]", None),
        ("numbers[item > 1]", [3, 2]),
        # arithmetic
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("10 - 4 - 3", 3),
        ("10 / 4", 2.5),
        ("9 / 3", 3),
        ("2 ** 10", 1024),
        ("2 ** 3 ** 2", 64),
        ("-2 ** 2", 4),
        ("- amount", -150),
        ("0.1 + 0.2", 0.3),
        ("price * 3", 59.97),
        ("1 / 3", 0.3333333333333333),
        ('"ab" + "cd"', "abcd"),
        ('name + "!"', "Ada Lovelace!"),
        # comparisons
        ("amount > 100", True),
        ("amount >= 150", True),
        ("amount < 150", False),
        ("amount <= 149", False),
        ("amount = 150", True),
        ("amount != 150", False),
        ('"a" < "b"', True),
        ("0.1 + 0.2 = 0.3", True),
        ("[1, 2] = [1, 2]", True),
        ("{a: 1} = {a: 1}", True),
        ("{a: 1} = {a: 2}", False),
        ("amount between 100 and 200", True),
        ("amount between 1 and 10", False),
        ("2 in [1, 2, 3]", True),
        ("5 in [1, 2, 3]", False),
        ("2 in (1, 2)", True),
        ("7 in (< 3, > 5)", True),
        ("4 in (< 3, > 5)", False),
        ("5 in [1..5]", True),
        ("5 in [1..5)", False),
        ("1 in (1..5]", False),
        ("1 in ]1..5]", False),
        ("3 in >= 3", True),
        ("order.customer.tier in numbers", False),
        # logic
        ("true and false", False),
        ("true or false", True),
        ("not(true)", False),
        ("amount > 100 and flag", True),
        ('amount > 200 or name = "Ada Lovelace"', True),
        # if
        ('if amount > 100 then "big" else "small"', "big"),
        ('if nothing then "yes" else "no"', "no"),
        ('if 1 then "yes" else "no"', "no"),
        ("1 + (if flag then 1 else 2)", 2),
    ],
)
def test_operators(expression: str, expected: Any) -> None:
    assert feel(expression) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # comparisons with null are null; equality with null is an answer
        ("nothing > 1", None),
        ("nothing < 1", None),
        ("nothing = null", True),
        ("unknown = null", True),
        ("1 = null", False),
        ("1 != null", True),
        ("nothing != null", False),
        # different types do not compare
        ('1 = "1"', None),
        ('1 < "2"', None),
        ("true < false", None),
        # arithmetic with null, or across types, is null
        ("nothing + 1", None),
        ('"a" + 1', None),
        ("1 / 0", None),
        ('-"a"', None),
        ("2 ** 100000", None),
        # three-valued logic
        ("true and null", None),
        ("false and null", False),
        ("null and false", False),
        ("true or null", True),
        ("false or null", None),
        ("null or true", True),
        ("not(null)", None),
        ("not(1)", None),
        ("1 and true", None),
        # paths and filters through null
        ("nothing.field", None),
        ("nothing[1]", None),
        ("nothing between 1 and 2", None),
        # functions of null
        ("string length(nothing)", None),
        ("upper case(1)", None),
        ("sum([1, null])", None),
        ("count(nothing)", None),
        ("string(nothing)", None),
    ],
)
def test_null_semantics(expression: str, expected: Any) -> None:
    assert feel(expression) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("not(false)", True),
        ("is defined(amount)", True),
        ("is defined(nothing)", True),
        ("is defined(unknown)", False),
        ("is defined(order.customer.tier)", True),
        ("is defined(order.customer.none)", False),
        ("is defined(1)", True),
        ('get or else(nothing, "default")', "default"),
        ('get or else(name, "default")', "Ada Lovelace"),
        ("all([true, true])", True),
        ("all(true, false)", False),
        ("all([true, null])", None),
        ("any([false, true])", True),
        ("any([])", False),
        ("string length(name)", 12),
        ('substring("foobar", 3)', "obar"),
        ('substring("foobar", 3, 2)', "ob"),
        ('substring("foobar", -2, 1)', "a"),
        ('substring("foobar", 0)', None),
        ('substring before("foo-bar", "-")', "foo"),
        ('substring after("foo-bar", "-")', "bar"),
        ('substring after("foo", "-")', ""),
        ("upper case(name)", "ADA LOVELACE"),
        ("lower case(name)", "ada lovelace"),
        ('trim("  x ")', "x"),
        ('contains(name, "Love")', True),
        ('starts with(name, "Ada")', True),
        ('ends with(name, "Ada")', False),
        ('string join(["a", null, "b"], ", ")', "a, b"),
        ('string join(["a", "b"])', "ab"),
        ("string(1.50)", "1.5"),
        ("string(10 / 4)", "2.5"),
        ("string(true)", "true"),
        ('string([1, "a", {b: null}])', '[1, "a", {b:null}]'),
        ('string(duration("P1DT2H30M"))', "P1DT2H30M"),
        ('string(duration("PT0.5S"))', "PT0.5S"),
        ('number("12.5") * 2', 25),
        ('number("7")', 7),
        ('number("seven")', None),
        ("abs(-3)", 3),
        ("abs(-2.5)", 2.5),
        ("floor(2.7)", 2),
        ("floor(-1.5)", -2),
        ("ceiling(2.1)", 3),
        ("decimal(1 / 3, 2)", 0.33),
        ("decimal(2.5, 0)", 2),
        ("modulo(10, 3)", 1),
        ("modulo(-7, 3)", 2),
        ("modulo(7, 0)", None),
        ("count(numbers)", 3),
        ("sum(numbers)", 6),
        ("sum(1, 2, 3.5)", 6.5),
        ("sum([])", 0),
        ("mean([1, 2])", 1.5),
        ("mean([])", None),
        ("min(numbers)", 1),
        ("max(numbers)", 3),
        ("max(4, 9, 2)", 9),
        ('min(["b", "a"])', "a"),
        ('max([1, "a"])', None),
        ("min([])", None),
        ("list contains(numbers, 2)", True),
        ("list contains(numbers, 9)", False),
        ("append([1], 2, 3)", [1, 2, 3]),
        ("concatenate([1], [2, 3])", [1, 2, 3]),
        ('duration("PT5M")', dt.timedelta(minutes=5)),
        ('duration("PT5M") * 2', dt.timedelta(minutes=10)),
        ('duration("PT1H") / duration("PT30M")', 2),
        ('duration("PT1H") > duration("PT30M")', True),
        ('duration("nonsense")', None),
        (
            'date and time("2026-01-01T10:00:00Z") + duration("P1D")',
            dt.datetime(2026, 1, 2, 10, tzinfo=dt.UTC),
        ),
        (
            'date and time("2026-01-02T00:00:00Z") - date and time("2026-01-01T12:00:00Z")',
            dt.timedelta(hours=12),
        ),
        ('date and time("2026-01-01T00:00:00Z") < date and time("2026-06-01T00:00:00Z")', True),
        ('date and time("2026-01-01T00:00:00") < date and time("2026-06-01T00:00:00Z")', None),
        ('date and time("not a date")', None),
    ],
)
def test_functions(expression: str, expected: Any) -> None:
    assert feel(expression) == expected


def test_results_are_plain_python_numbers() -> None:
    assert type(feel("1 + 2")) is int
    assert type(feel("1.5 + 1")) is float
    assert type(feel("3.0 * 2")) is int
    assert feel("[1.5 * 2, {a: 0.5 + 0.5}]") == [3, {"a": 1}]


def test_compile_once_evaluate_many() -> None:
    expression = compile_expression("=amount * 2")
    assert isinstance(expression, Expression)
    assert expression.text == "=amount * 2"
    assert [expression.evaluate({"amount": n}) for n in (1, 2, 3)] == [2, 4, 6]
    assert compile_expression("=amount * 2") is expression  # cached


def test_conditions_are_booleans_and_null_is_false() -> None:
    assert evaluate_condition("=amount > 100", {"amount": 150}) is True
    assert evaluate_condition("=amount > 100", {}) is False
    assert evaluate_condition("=flag", {"flag": None}) is False
    with pytest.raises(FeelError, match=r"condition gave 150 \(number\), not a boolean"):
        evaluate_condition("=amount", {"amount": 150})


def test_variables_are_never_code() -> None:
    assert feel("name", name="__import__('os').system('true')") == "__import__('os').system('true')"
    with pytest.raises(FeelError):
        compile_expression("__import__('os')")


@pytest.mark.parametrize(
    ("expression", "message", "position"),
    [
        ("", "empty expression", 0),
        ("=", "empty expression", 1),
        ("a +", "unexpected end of expression", 3),
        ("(1 + 2", "expected ')' to close the parenthesis, found the end", 6),
        ("[1, 2", "expected ']' to close the list, found the end", 5),
        ("{a 1}", "expected ':' after the key 'a', found '1'", 3),
        ("{a: 1, a: 2}", "duplicate key 'a' in the context", 7),
        ("1 + * 2", "unexpected '*'", 4),
        ("amount > 1 )", "unexpected ')'", 11),
        ('"open', "unterminated string", 0),
        ('"bad \\q"', "unknown escape '\\q'", 6),
        ("1 # 2", "unexpected character '#'", 2),
        ("foo(1)", "unknown function 'foo'", 0),
        ('=substring("a")', "function 'substring' takes 2 to 3 arguments, got 1", 1),
        ("not(1, 2)", "function 'not' takes 1 argument, got 2", 0),
        ("sum()", "function 'sum' takes at least 1 argument, got 0", 0),
        ("if a then b", "expected 'else' after the 'then' branch, found the end", 11),
        ("if a b", "expected 'then' after the condition of 'if', found 'b'", 5),
        ("a between 1", "expected 'and' in 'between ... and ...', found the end", 11),
        ("x in ]1, 2]", "expected '..' in a range", 7),
        ("order.", "expected a name after '.'", 6),
        ("for x in xs", "expected 'return' after the lists of 'for', found the end", 11),
        ("some x in xs", "expected 'satisfies' after the lists of 'some', found the end", 12),
        ("x instance of thing", "expected a type name after 'instance of'", 14),
        ("function(1) 2", "expected a parameter name", 9),
        ("then", "unexpected 'then'", 0),
        ("a b", "unexpected 'b'", 2),
    ],
)
def test_syntax_errors_name_the_position(expression: str, message: str, position: int) -> None:
    with pytest.raises(FeelError) as caught:
        compile_expression(expression)
    error = caught.value
    assert error.reason == message
    assert error.position == position
    assert error.expression == expression
    assert str(error) == f"{message} at position {position} in expression {expression!r}"


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    with pytest.raises(FeelError, match="nested too deeply"):
        compile_expression("(" * 5000 + "1" + ")" * 5000)
    assert feel("(" * 20 + "1" + ")" * 20) == 1


def test_huge_numbers_are_null_not_slow() -> None:
    assert feel("10 ** 10000") is None
    assert feel("decimal(1, 5000)") is None


def test_feel_error_is_a_bpmn_error_with_an_http_hint() -> None:
    from runtime import TrioflowError
    from runtime.bpmn import BpmnError

    with pytest.raises(BpmnError) as caught:
        compile_expression("1 +")
    assert isinstance(caught.value, TrioflowError)
    assert caught.value.http_status == 400
