"""FEEL's temporal values: dates, times, dates and times, and its two kinds of duration.

``datetime.date``, ``datetime.time`` and ``datetime.datetime`` are FEEL's date, time and
date and time; ``datetime.timedelta`` is a days and time duration; ``YearsMonths`` is a
years and months duration (calendar months, whose length in days varies). Arithmetic
follows the FEEL specification's tables: anything it does not define is null (None).
Adding months to the 31st gives the last day of a shorter month, as in Camunda's FEEL.

The instance's clock: ``now()`` and ``today()`` read ``CLOCK``, which the evaluator sets
to the instance's deterministic time for the length of one evaluation, so a replay sees
the same instant. Without an instance clock (a timer start event evaluated at load time)
they are null. Zeebe differs: it reads the broker's wall clock at each evaluation, which a
durable replay could not reproduce.
"""

from __future__ import annotations

import calendar
import contextvars
import datetime as dt
from decimal import Decimal
from typing import Any

import attrs

CLOCK: contextvars.ContextVar[dt.datetime | None] = contextvars.ContextVar(
    "trioflow_feel_clock", default=None
)
MICRO = dt.timedelta(microseconds=1)
_ANCHOR = dt.date(2000, 1, 3)  # any date: a time of day plus a duration wraps around


@attrs.frozen(order=True)
class YearsMonths:
    """A years and months duration, in whole months (negative: backwards)."""

    months: int

    def __str__(self) -> str:
        sign, months = ("-", -self.months) if self.months < 0 else ("", self.months)
        years, rest = divmod(months, 12)
        text = (f"{years}Y" if years else "") + (f"{rest}M" if rest or not years else "")
        return f"{sign}P{text}"


TEMPORAL = (dt.date, dt.time, dt.timedelta, YearsMonths)


def kind(value: Any) -> str | None:
    """The FEEL type name of a temporal value, None for anything else."""
    if isinstance(value, dt.datetime):
        return "date and time"
    if isinstance(value, dt.date):
        return "date"
    if isinstance(value, dt.time):
        return "time"
    if isinstance(value, dt.timedelta):
        return "days and time duration"
    if isinstance(value, YearsMonths):
        return "years and months duration"
    return None


def add_months(value: dt.date, months: int) -> dt.date | None:
    """``value`` moved by whole months; the day is clamped to the month's length."""
    index = value.year * 12 + value.month - 1 + months
    year, month = divmod(index, 12)
    if not dt.MINYEAR <= year <= dt.MAXYEAR:
        return None
    day = min(value.day, calendar.monthrange(year, month + 1)[1])
    return value.replace(year=year, month=month + 1, day=day)


def _plus(value: Any, duration: dt.timedelta | YearsMonths) -> Any:
    """A date, time or date and time moved by a duration (None where FEEL has none)."""
    if isinstance(duration, YearsMonths):
        if isinstance(value, dt.date):  # a date and time is a date too
            return add_months(value, duration.months)
        return None
    if isinstance(value, dt.datetime):
        return value + duration
    if isinstance(value, dt.date):
        return (dt.datetime.combine(value, dt.time()) + duration).date()
    if isinstance(value, dt.time):
        moved = dt.datetime.combine(_ANCHOR, value) + duration
        return moved.timetz()
    return None


def add(a: Any, b: Any) -> Any:
    """``a + b`` for temporal values, None when FEEL does not define it."""
    try:
        if isinstance(a, dt.timedelta) and isinstance(b, dt.timedelta):
            return a + b
        if isinstance(a, YearsMonths) and isinstance(b, YearsMonths):
            return YearsMonths(a.months + b.months)
        if isinstance(b, dt.timedelta | YearsMonths):
            return _plus(a, b)
        if isinstance(a, dt.timedelta | YearsMonths):
            return _plus(b, a)
    except (OverflowError, ValueError):
        pass
    return None


def sub(a: Any, b: Any) -> Any:
    """``a - b`` for temporal values, None when FEEL does not define it."""
    try:
        if isinstance(b, dt.timedelta):
            return add(a, -b) if not isinstance(a, YearsMonths) else None
        if isinstance(b, YearsMonths):
            return add(a, YearsMonths(-b.months)) if not isinstance(a, dt.timedelta) else None
        if isinstance(a, dt.datetime) and isinstance(b, dt.datetime):
            return a - b
        if type(a) is dt.date and type(b) is dt.date:
            return dt.timedelta(days=(a - b).days)
        if isinstance(a, dt.time) and isinstance(b, dt.time):
            if (a.tzinfo is None) != (b.tzinfo is None):
                return None
            return dt.datetime.combine(_ANCHOR, a) - dt.datetime.combine(_ANCHOR, b)
    except (OverflowError, ValueError, TypeError):
        pass
    return None


def scale(duration: Any, factor: Decimal) -> Any:
    """A duration times a number (a years and months duration truncates to months)."""
    try:
        if isinstance(duration, dt.timedelta):
            return dt.timedelta(microseconds=int(Decimal(duration // MICRO) * factor))
        if isinstance(duration, YearsMonths):
            return YearsMonths(int(duration.months * factor))
    except (ArithmeticError, OverflowError):
        pass
    return None


def ratio(a: Any, b: Any) -> Decimal | None:
    """A duration divided by a duration of the same kind, as a number."""
    if isinstance(a, dt.timedelta) and isinstance(b, dt.timedelta) and b:
        return Decimal(a // MICRO) / Decimal(b // MICRO)
    if isinstance(a, YearsMonths) and isinstance(b, YearsMonths) and b.months:
        return Decimal(a.months) / Decimal(b.months)
    return None


def _seconds_text(value: Decimal) -> str:
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def duration_text(value: dt.timedelta) -> str:
    """``P1DT2H30M``: days, then hours, minutes and seconds; ``PT0S`` for zero."""
    sign, value = ("-", -value) if value < dt.timedelta(0) else ("", value)
    seconds = Decimal(value.seconds) + Decimal(value.microseconds) / 1_000_000
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{sign}P{value.days}D" if value.days else f"{sign}P"
    time = "".join(
        f"{_seconds_text(amount)}{unit}"
        for amount, unit in ((hours, "H"), (minutes, "M"), (seconds, "S"))
        if amount
    )
    if not time and not value.days:
        time = "0S"
    return text + (f"T{time}" if time else "")


def text(value: Any) -> str:
    """A temporal value as FEEL writes it: ISO 8601, ``Z`` for UTC."""
    if isinstance(value, dt.timedelta):
        return duration_text(value)
    if isinstance(value, YearsMonths):
        return str(value)
    written: str = value.isoformat()
    return written[:-6] + "Z" if written.endswith("+00:00") else written


def member(value: Any, name: str) -> Any:
    """The properties FEEL defines: ``d.year``, ``t.hour``, ``dur.days``, ``ym.years``..."""
    if isinstance(value, dt.date) and name in ("year", "month", "day"):
        return getattr(value, name)
    if isinstance(value, dt.date) and name == "weekday":
        return value.isoweekday()
    if isinstance(value, dt.datetime | dt.time):
        if name in ("hour", "minute", "second"):
            return getattr(value, name)
        if name == "time offset":
            offset = value.utcoffset()
            return offset if offset is not None else None
        if name == "timezone":
            return None if value.tzinfo is None else str(value.tzinfo)
    if isinstance(value, dt.timedelta):
        total = abs(value) // dt.timedelta(seconds=1)
        sign = -1 if value < dt.timedelta(0) else 1
        parts = {
            "days": total // 86_400,
            "hours": total % 86_400 // 3600,
            "minutes": total % 3600 // 60,
            "seconds": total % 60,
        }
        return sign * parts[name] if name in parts else None
    if isinstance(value, YearsMonths) and name in ("years", "months"):
        sign = -1 if value.months < 0 else 1
        years, months = divmod(abs(value.months), 12)
        return sign * (years if name == "years" else months)
    return None


def now() -> dt.datetime | None:
    return CLOCK.get()


def today() -> dt.date | None:
    moment = CLOCK.get()
    return None if moment is None else moment.date()
