"""FEEL's number functions: rounding with a scale, modulo, and a few more.

``floor``, ``ceiling``, ``round up`` (away from zero), ``round down`` (towards zero),
``round half up`` and ``round half down`` take an optional scale (digits after the point,
0 by default); ``decimal`` rounds half to even, as the FEEL specification says.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ._feel_temporal import YearsMonths
from ._feel_text import integer
from ._feel_values import DECIMAL, div, mul, sub, to_number


def _rounded(rounding: str) -> Callable[[list[Any]], Any]:
    def rounded(args: list[Any]) -> Any:
        number = to_number(args[0])
        scale = integer(args[1]) if len(args) > 1 else 0
        if number is None or scale is None or not -6111 <= scale <= 6176:
            return None
        try:
            return Decimal(number).quantize(
                Decimal(1).scaleb(-scale), rounding=rounding, context=DECIMAL
            )
        except ArithmeticError:
            return None

    return rounded


def _modulo(args: list[Any]) -> Any:
    dividend, divisor = to_number(args[0]), to_number(args[1])
    if dividend is None or divisor is None or divisor == 0:
        return None
    quotient = div(dividend, divisor)
    floored = Decimal(quotient).to_integral_value(rounding=decimal.ROUND_FLOOR)
    return sub(dividend, mul(divisor, floored))


def _abs(args: list[Any]) -> Any:
    value = args[0]
    number = to_number(value)
    if number is not None:
        return abs(number)
    if isinstance(value, dt.timedelta):
        return abs(value)
    return YearsMonths(abs(value.months)) if isinstance(value, YearsMonths) else None


def _sqrt(args: list[Any]) -> Any:
    number = to_number(args[0])
    if number is None or number < 0:
        return None
    try:
        return DECIMAL.sqrt(Decimal(number))
    except ArithmeticError:
        return None


def _parity(remainder: int) -> Callable[[list[Any]], Any]:
    def parity(args: list[Any]) -> bool | None:
        number = integer(args[0])
        return None if number is None else number % 2 == remainder

    return parity


FUNCTIONS: dict[str, tuple[int, int | None, Callable[[list[Any]], Any]]] = {
    "abs": (1, 1, _abs),
    "floor": (1, 2, _rounded(decimal.ROUND_FLOOR)),
    "ceiling": (1, 2, _rounded(decimal.ROUND_CEILING)),
    "round up": (1, 2, _rounded(decimal.ROUND_UP)),
    "round down": (1, 2, _rounded(decimal.ROUND_DOWN)),
    "round half up": (1, 2, _rounded(decimal.ROUND_HALF_UP)),
    "round half down": (1, 2, _rounded(decimal.ROUND_HALF_DOWN)),
    "decimal": (2, 2, _rounded(decimal.ROUND_HALF_EVEN)),
    "modulo": (2, 2, _modulo),
    "sqrt": (1, 1, _sqrt),
    "odd": (1, 1, _parity(1)),
    "even": (1, 1, _parity(0)),
}
