"""The values of the FEEL subset: types, exact numbers, null-propagating operators, built-ins.

Everything here is total: a type mismatch, an overflow or a division by zero gives None
(FEEL's null) instead of raising. Numbers are ints while they stay whole and exact
``Decimal``s (34 digits, like FEEL's decimal128) otherwise; floats from the variables are
taken by their shortest repr, so ``0.1 + 0.2 = 0.3`` holds. ``export`` turns results back
into plain ``int``/``float`` for the caller.
"""

from __future__ import annotations

import datetime as dt
import decimal
import operator
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from ._model import BpmnError

DECIMAL = decimal.Context(prec=34, Emax=6144, Emin=-6143, traps=[decimal.InvalidOperation])
DECIMAL.traps[decimal.DivisionByZero] = True
DECIMAL.traps[decimal.Overflow] = True


def kind_of(value: Any) -> str:
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
    if isinstance(value, dt.timedelta):
        return "duration"
    if isinstance(value, dt.datetime):
        return "date and time"
    if isinstance(value, dt.date):
        return "date"
    return type(value).__name__


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


def _duration_text(value: dt.timedelta) -> str:
    sign, value = ("-", -value) if value < dt.timedelta(0) else ("", value)
    seconds = Decimal(value.seconds) + Decimal(value.microseconds) / 1_000_000
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{sign}P{value.days}D" if value.days else f"{sign}P"
    time = "".join(
        f"{_number_text(amount)}{unit}"
        for amount, unit in ((hours, "H"), (minutes, "M"), (seconds, "S"))
        if amount
    )
    return text + (f"T{time}" if time or not value.days else "")


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
    if isinstance(value, dt.timedelta):
        return _duration_text(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def describe(value: Any) -> str:
    """``"abc" (string)``: a value and its FEEL type, for error messages."""
    return f"{to_string(value, quote=True)} ({kind_of(value)})"


def _decimal_op(op: Callable[[Decimal, Decimal], Decimal], a: Any, b: Any) -> Decimal | None:
    try:
        return op(Decimal(a), Decimal(b))
    except ArithmeticError:
        return None


def add(a: Any, b: Any) -> Any:
    x, y = to_number(a), to_number(b)
    if x is not None and y is not None:
        if isinstance(x, int) and isinstance(y, int):
            return x + y
        return _decimal_op(DECIMAL.add, x, y)
    if isinstance(a, str) and isinstance(b, str):
        return a + b
    return _temporal(operator.add, a, b)


def sub(a: Any, b: Any) -> Any:
    x, y = to_number(a), to_number(b)
    if x is not None and y is not None:
        if isinstance(x, int) and isinstance(y, int):
            return x - y
        return _decimal_op(DECIMAL.subtract, x, y)
    return _temporal(operator.sub, a, b)


def _temporal(op: Callable[[Any, Any], Any], a: Any, b: Any) -> Any:
    """Date-and-time and duration arithmetic: whatever Python defines between the two."""
    if isinstance(a, dt.timedelta | dt.datetime) and isinstance(b, dt.timedelta | dt.datetime):
        if op is operator.add and isinstance(a, dt.datetime) and isinstance(b, dt.datetime):
            return None
        try:
            return op(a, b)
        except (TypeError, OverflowError):
            return None
    return None


def mul(a: Any, b: Any) -> Any:
    x, y = to_number(a), to_number(b)
    if x is not None and y is not None:
        if isinstance(x, int) and isinstance(y, int):
            return x * y
        return _decimal_op(DECIMAL.multiply, x, y)
    if isinstance(b, dt.timedelta):
        a, b, x, y = b, a, y, x
    if isinstance(a, dt.timedelta) and y is not None:
        return _scale(a, Decimal(y))
    return None


MICRO = dt.timedelta(microseconds=1)


def _scale(duration: dt.timedelta, factor: Decimal) -> dt.timedelta | None:
    try:
        micros = Decimal(duration // MICRO) * factor
        return dt.timedelta(microseconds=int(micros))
    except (ArithmeticError, OverflowError):
        return None


def div(a: Any, b: Any) -> Any:
    x, y = to_number(a), to_number(b)
    if x is not None and y is not None:
        if y == 0:
            return None
        if isinstance(x, int) and isinstance(y, int) and x % y == 0:
            return x // y
        return _decimal_op(DECIMAL.divide, x, y)
    if isinstance(a, dt.timedelta) and y is not None:
        return None if y == 0 else _scale(a, 1 / Decimal(y))
    if isinstance(a, dt.timedelta) and isinstance(b, dt.timedelta) and b:
        return _decimal_op(DECIMAL.divide, a // MICRO, b // MICRO)
    return None


def power(a: Any, b: Any) -> Any:
    x, y = to_number(a), to_number(b)
    if x is None or y is None:
        return None
    return _decimal_op(DECIMAL.power, x, y)


def neg(a: Any) -> Any:
    x = to_number(a)
    if x is not None:
        return -x
    return -a if isinstance(a, dt.timedelta) else None


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
    return bool(a == b)


def _ne(a: Any, b: Any) -> bool | None:
    result = equal(a, b)
    return None if result is None else not result


_ORDERABLE = frozenset({"number", "string", "duration", "date and time", "date"})
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
    return None


# --- built-in functions ---------------------------------------------------------


def _strings(function: Callable[..., Any]) -> Callable[[list[Any]], Any]:
    """Null unless every argument is a string."""
    return lambda args: function(*args) if all(isinstance(a, str) for a in args) else None


def _integer(value: Any) -> int | None:
    number = to_number(value)
    if number is None or number != int(number):
        return None
    return int(number)


def _substring(args: list[Any]) -> str | None:
    text, start = args[0], _integer(args[1])
    length = _integer(args[2]) if len(args) > 2 else None
    if not isinstance(text, str) or start is None or start == 0:
        return None
    if len(args) > 2 and (length is None or length < 0):
        return None
    begin = start - 1 if start > 0 else max(len(text) + start, 0)
    return text[begin:] if length is None else text[begin : begin + length]


def _substring_before(text: str, match: str) -> str:
    return text.partition(match)[0] if match in text else ""


def _substring_after(text: str, match: str) -> str:
    return text.partition(match)[2] if match in text else ""


def _items(args: list[Any]) -> list[Any] | None:
    """``f([1, 2])`` and ``f(1, 2)`` alike."""
    if len(args) == 1:
        return list(args[0]) if isinstance(args[0], list | tuple) else None
    return list(args)


def _numbers(args: list[Any]) -> list[int | Decimal] | None:
    items = _items(args)
    if items is None:
        return None
    numbers = [to_number(item) for item in items]
    return None if any(n is None for n in numbers) else numbers  # type: ignore[return-value]


def _sum(args: list[Any]) -> Any:
    numbers = _numbers(args)
    if numbers is None:
        return None
    total: Any = 0
    for number in numbers:
        total = add(total, number)
    return total


def _mean(args: list[Any]) -> Any:
    numbers = _numbers(args)
    return None if not numbers else div(_sum([numbers]), len(numbers))


def _extreme(pick: str) -> Callable[[list[Any]], Any]:
    def extreme(args: list[Any]) -> Any:
        items = _items(args)
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


def _rounded(rounding: str) -> Callable[[list[Any]], Any]:
    def rounded(args: list[Any]) -> Any:
        number = to_number(args[0])
        if number is None:
            return None
        return int(Decimal(number).to_integral_value(rounding=rounding))

    return rounded


def _decimal(args: list[Any]) -> Any:
    number, scale = to_number(args[0]), _integer(args[1])
    if number is None or scale is None or not -6111 <= scale <= 6176:
        return None
    try:
        return Decimal(number).quantize(Decimal(1).scaleb(-scale), context=DECIMAL)
    except ArithmeticError:
        return None


def _modulo(args: list[Any]) -> Any:
    dividend, divisor = to_number(args[0]), to_number(args[1])
    if dividend is None or divisor is None or divisor == 0:
        return None
    quotient = div(dividend, divisor)
    floored = Decimal(quotient).to_integral_value(rounding=decimal.ROUND_FLOOR)
    return sub(dividend, mul(divisor, floored))


def _number(args: list[Any]) -> Any:
    value = args[0]
    if to_number(value) is not None:
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+(\.\d+)?([eE][-+]?\d+)?\s*", value):
        number = Decimal(value.strip())
        return int(number) if number == number.to_integral_value() and "." not in value else number
    return None


def _string(args: list[Any]) -> str | None:
    return None if args[0] is None else to_string(args[0])


def _not(args: list[Any]) -> bool | None:
    return not args[0] if isinstance(args[0], bool) else None


def _list_contains(args: list[Any]) -> bool | None:
    items = args[0]
    if not isinstance(items, list | tuple):
        return None
    return any(equal(item, args[1]) is True for item in items)


def _string_join(args: list[Any]) -> str | None:
    items, delimiter = args[0], args[1] if len(args) > 1 else ""
    if not isinstance(items, list | tuple) or not isinstance(delimiter, str):
        return None
    if not all(item is None or isinstance(item, str) for item in items):
        return None
    return delimiter.join(item for item in items if item is not None)


def _booleans(combine: Callable[[Any], bool | None]) -> Callable[[list[Any]], Any]:
    def check(args: list[Any]) -> bool | None:
        items = _items(args)
        return None if items is None else combine(items)

    return check


def _append(args: list[Any]) -> list[Any] | None:
    return [*args[0], *args[1:]] if isinstance(args[0], list | tuple) else None


def _concatenate(args: list[Any]) -> list[Any] | None:
    if not all(isinstance(arg, list | tuple) for arg in args):
        return None
    return [item for arg in args for item in arg]


def _duration(args: list[Any]) -> dt.timedelta | None:
    from . import _timers  # _timers evaluates FEEL too: import when first used

    if not isinstance(args[0], str):
        return None
    try:
        return _timers.parse_duration_delta(args[0])
    except BpmnError:
        return None


def _date_and_time(args: list[Any]) -> dt.datetime | None:
    if not isinstance(args[0], str):
        return None
    try:
        return dt.datetime.fromisoformat(args[0])
    except ValueError:
        return None


def _count(args: list[Any]) -> int | None:
    return len(args[0]) if isinstance(args[0], list | tuple) else None


def _abs(args: list[Any]) -> Any:
    number = to_number(args[0])
    if number is not None:
        return abs(number)
    return abs(args[0]) if isinstance(args[0], dt.timedelta) else None


Function = Callable[[list[Any]], Any]

#: name -> (fewest arguments, most arguments or None for any number, implementation)
FUNCTIONS: dict[str, tuple[int, int | None, Function]] = {
    # boolean and null
    "not": (1, 1, _not),
    "is defined": (1, 1, lambda args: True),  # replaced by an existence check when compiled
    "get or else": (2, 2, lambda args: args[1] if args[0] is None else args[0]),
    "all": (1, None, _booleans(all_true)),
    "any": (1, None, _booleans(any_true)),
    # strings
    "string length": (1, 1, _strings(len)),
    "substring": (2, 3, _substring),
    "substring before": (2, 2, _strings(_substring_before)),
    "substring after": (2, 2, _strings(_substring_after)),
    "upper case": (1, 1, _strings(str.upper)),
    "lower case": (1, 1, _strings(str.lower)),
    "trim": (1, 1, _strings(str.strip)),
    "contains": (2, 2, _strings(operator.contains)),
    "starts with": (2, 2, _strings(str.startswith)),
    "ends with": (2, 2, _strings(str.endswith)),
    "string join": (1, 2, _string_join),
    # conversions
    "string": (1, 1, _string),
    "number": (1, 1, _number),
    "duration": (1, 1, _duration),
    "date and time": (1, 1, _date_and_time),
    # numbers
    "abs": (1, 1, _abs),
    "floor": (1, 1, _rounded(decimal.ROUND_FLOOR)),
    "ceiling": (1, 1, _rounded(decimal.ROUND_CEILING)),
    "decimal": (2, 2, _decimal),
    "modulo": (2, 2, _modulo),
    # lists
    "count": (1, 1, _count),
    "sum": (1, None, _sum),
    "mean": (1, None, _mean),
    "min": (1, None, _extreme("<")),
    "max": (1, None, _extreme(">")),
    "list contains": (2, 2, _list_contains),
    "append": (1, None, _append),
    "concatenate": (1, None, _concatenate),
}
