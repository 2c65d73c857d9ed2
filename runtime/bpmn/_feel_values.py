"""The values of FEEL: types, exact numbers, and the null-propagating operators.

Everything here is total: a type mismatch, an overflow or a division by zero gives None
(FEEL's null) instead of raising. Numbers are ints while they stay whole and exact
``Decimal``s (34 digits, like FEEL's decimal128) otherwise; floats from the variables are
taken by their shortest repr, so ``0.1 + 0.2 = 0.3`` holds. ``export`` turns results back
into plain ``int``/``float`` for the caller. Temporal values are in ``_feel_temporal``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import operator
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import attrs

from . import _feel_temporal as temporal

DECIMAL = decimal.Context(prec=34, Emax=6144, Emin=-6143, traps=[decimal.InvalidOperation])
DECIMAL.traps[decimal.DivisionByZero] = True
DECIMAL.traps[decimal.Overflow] = True


@attrs.frozen(eq=False)
class Function:
    """A FEEL function value (``function(a, b) a < b``): called with a list of arguments."""

    parameters: tuple[str, ...]
    call: Callable[[list[Any]], Any]

    def __call__(self, args: list[Any]) -> Any:
        if len(args) != len(self.parameters):
            return None
        return self.call(args)


def kind_of(value: Any) -> str:
    """The FEEL type name of a value, as ``instance of`` and error messages use it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, Mapping):
        return "context"
    if isinstance(value, Function):
        return "function"
    return temporal.kind(value) or type(value).__name__


def to_number(value: Any) -> int | Decimal | None:
    """A number as int or Decimal (floats by their shortest repr); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value)) if value == value and abs(value) != float("inf") else None
    return None


def export(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [export(item) for item in value]
    if isinstance(value, dict):
        return {key: export(item) for key, item in value.items()}
    return value


def _number_text(value: int | float | Decimal) -> str:
    number = to_number(value)
    if number is None:
        return repr(value)
    if isinstance(number, int) or number == number.to_integral_value():
        return str(int(number))
    return format(number.normalize(), "f")


def to_string(value: Any, *, quote: bool = False) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"' if quote else value
    if to_number(value) is not None:
        return _number_text(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(to_string(item, quote=True) for item in value) + "]"
    if isinstance(value, Mapping):
        entries = (f"{key}:{to_string(item, quote=True)}" for key, item in value.items())
        return "{" + ", ".join(entries) + "}"
    if isinstance(value, temporal.TEMPORAL):
        return temporal.text(value)
    if isinstance(value, Function):
        return f"function({', '.join(value.parameters)})"
    return str(value)


def describe(value: Any) -> str:
    """``"abc" (string)``: a value and its FEEL type, for error messages."""
    return f"{to_string(value, quote=True)} ({kind_of(value)})"


def _decimal_op(op: Callable[[Decimal, Decimal], Decimal], a: Any, b: Any) -> Decimal | None:
    try:
        result = op(Decimal(a), Decimal(b))
    except ArithmeticError:
        return None
    return result if result.is_finite() else None  # 0 ** -0.5 is infinite: FEEL has no such number


def add(a: Any, b: Any) -> Any:
    x, y = to_number(a), to_number(b)
    if x is not None and y is not None:
        if isinstance(x, int) and isinstance(y, int):
            return x + y
        return _decimal_op(DECIMAL.add, x, y)
    if isinstance(a, str) and isinstance(b, str):
        return a + b
    return temporal.add(a, b)


def sub(a: Any, b: Any) -> Any:
    x, y = to_number(a), to_number(b)
    if x is not None and y is not None:
        if isinstance(x, int) and isinstance(y, int):
            return x - y
        return _decimal_op(DECIMAL.subtract, x, y)
    return temporal.sub(a, b)


def mul(a: Any, b: Any) -> Any:
    x, y = to_number(a), to_number(b)
    if x is not None and y is not None:
        if isinstance(x, int) and isinstance(y, int):
            return x * y
        return _decimal_op(DECIMAL.multiply, x, y)
    if y is None and x is not None:
        a, b, x, y = b, a, y, x
    if y is not None:
        return temporal.scale(a, Decimal(y))
    return None


def div(a: Any, b: Any) -> Any:
    x, y = to_number(a), to_number(b)
    if x is not None and y is not None:
        if y == 0:
            return None
        if isinstance(x, int) and isinstance(y, int) and x % y == 0:
            return x // y
        return _decimal_op(DECIMAL.divide, x, y)
    if y is not None:
        return None if y == 0 else temporal.scale(a, 1 / Decimal(y))
    return temporal.ratio(a, b)


def power(a: Any, b: Any) -> Any:
    x, y = to_number(a), to_number(b)
    if x is None or y is None:
        return None
    return _decimal_op(DECIMAL.power, x, y)


def neg(a: Any) -> Any:
    x = to_number(a)
    if x is not None:
        return -x
    if isinstance(a, dt.timedelta):
        return -a
    return temporal.YearsMonths(-a.months) if isinstance(a, temporal.YearsMonths) else None


def equal(a: Any, b: Any) -> bool | None:
    if a is None or b is None:
        return a is None and b is None
    kind = kind_of(a)
    if kind != kind_of(b):
        return None
    if kind == "number":
        return to_number(a) == to_number(b)
    if kind == "list":
        if len(a) != len(b):
            return False
        return all_true(equal(x, y) for x, y in zip(a, b, strict=True))
    if kind == "context":
        if a.keys() != b.keys():
            return False
        return all_true(equal(a[key], b[key]) for key in a)
    if kind in ("time", "date and time") and (a.tzinfo is None) != (b.tzinfo is None):
        return None
    return bool(a == b)


def _ne(a: Any, b: Any) -> bool | None:
    result = equal(a, b)
    return None if result is None else not result


_ORDERABLE = frozenset(
    {
        "number",
        "string",
        "date",
        "time",
        "date and time",
        "days and time duration",
        "years and months duration",
    }
)
_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}  # fmt: skip


def compare(op: str, a: Any, b: Any) -> bool | None:
    if op == "=":
        return equal(a, b)
    if op == "!=":
        return _ne(a, b)
    kind = kind_of(a)
    if kind != kind_of(b) or kind not in _ORDERABLE:
        return None
    if kind == "number":
        a, b = to_number(a), to_number(b)
        if a is None or b is None:
            return None
    try:
        return _ORDER[op](a, b)
    except TypeError:  # naive against aware date and time
        return None


def all_true(results: Any) -> bool | None:
    """Three-valued conjunction over booleans (anything else counts as null)."""
    answer: bool | None = True
    for result in results:
        if result is False:
            return False
        if result is not True:
            answer = None
    return answer


def any_true(results: Any) -> bool | None:
    answer: bool | None = False
    for result in results:
        if result is True:
            return True
        if result is not False:
            answer = None
    return answer


def member(value: Any, name: str) -> Any:
    if isinstance(value, Mapping):
        return value.get(name)
    if isinstance(value, list | tuple):
        return [member(item, name) for item in value]
    return temporal.member(value, name)
