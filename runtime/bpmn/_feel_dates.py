"""FEEL's temporal constructors and functions: ``date()``, ``time()``, ``date and time()``,
``duration()``, ``years and months duration()``, ``now()``, ``today()``, ``day of week()``.

Texts must be in FEEL's ISO 8601 forms (``2026-01-31``, ``10:30:00``, ``10:30:00+02:00``,
``2026-01-31T10:30:00Z``, ``...@Europe/Berlin``, ``P1DT2H``, ``P1Y2M``); anything else is
null. A duration with both months and days (``P1M2D``) is null, as FEEL has no such type.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import zoneinfo
from collections.abc import Callable
from typing import Any

from . import _iso
from ._feel_temporal import YearsMonths, add_months, now, today
from ._feel_text import integer

_DATE = r"-?\d{4,9}-\d\d-\d\d"
_TIME = r"\d\d:\d\d:\d\d(?:\.\d{1,9})?"
_OFFSET = r"(?:Z|[+-]\d\d:\d\d)"
_ZONE = r"@[A-Za-z0-9_+\-/]+"
_DATE_TEXT = re.compile(_DATE)
_TIME_TEXT = re.compile(rf"(?P<time>{_TIME})(?P<offset>{_OFFSET})?(?P<zone>{_ZONE})?")
_DATE_AND_TIME_TEXT = re.compile(rf"(?P<date>{_DATE})T(?P<rest>.*)", re.DOTALL)


def _parse_date(text: str) -> dt.date | None:
    if not _DATE_TEXT.fullmatch(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _parse_time(text: str, day: dt.date | None = None) -> dt.time | dt.datetime | None:
    """A time of day; with ``day``, the date and time of that day (zones need the day)."""
    match = _TIME_TEXT.fullmatch(text)
    if match is None:
        return None
    clock = match["time"][:15]  # Python keeps microseconds
    offset = match["offset"] or ""
    try:
        moment = dt.time.fromisoformat(clock + ("+00:00" if offset == "Z" else offset))
        zone = zoneinfo.ZoneInfo(match["zone"][1:]) if match["zone"] else None
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        return None
    if zone is not None and (offset or day is None):
        return None  # a zone id alone, and only where the date is known
    if day is None:
        return moment
    combined = dt.datetime.combine(day, moment)
    return combined.replace(tzinfo=zone) if zone is not None else combined


def _date(args: list[Any]) -> dt.date | None:
    if len(args) == 3:
        year, month, day = (integer(arg) for arg in args)
        if year is None or month is None or day is None:
            return None
        try:
            return dt.date(year, month, day)
        except ValueError:
            return None
    if len(args) != 1:
        return None
    (value,) = args
    if isinstance(value, dt.date):
        return value.date() if isinstance(value, dt.datetime) else value
    return _parse_date(value.strip()) if isinstance(value, str) else None


def _time(args: list[Any]) -> dt.time | None:
    if len(args) >= 3:
        hour, minute = integer(args[0]), integer(args[1])
        second = args[2]
        offset = args[3] if len(args) > 3 else None
        if hour is None or minute is None or integer(second) is None:
            return None
        if offset is not None and not isinstance(offset, dt.timedelta):
            return None
        try:
            zone = None if offset is None else dt.timezone(offset)
            return dt.time(hour, minute, integer(second) or 0, tzinfo=zone)
        except ValueError:
            return None
    if len(args) != 1:
        return None
    (value,) = args
    if isinstance(value, dt.datetime):
        return value.timetz()
    if isinstance(value, dt.time):
        return value
    if not isinstance(value, str):
        return None
    parsed = _parse_time(value.strip())
    return parsed if isinstance(parsed, dt.time) else None


def _date_and_time(args: list[Any]) -> dt.datetime | None:
    if len(args) == 2:
        day, moment = args
        if not isinstance(day, dt.date) or not isinstance(moment, dt.time):
            return None
        return dt.datetime.combine(day.date() if isinstance(day, dt.datetime) else day, moment)
    (value,) = args
    if not isinstance(value, str):
        return None
    text = value.strip()
    match = _DATE_AND_TIME_TEXT.fullmatch(text)
    if match is None:
        day = _parse_date(text)
        return None if day is None else dt.datetime.combine(day, dt.time())
    day = _parse_date(match["date"])
    if day is None:
        return None
    parsed = _parse_time(match["rest"], day)
    return parsed if isinstance(parsed, dt.datetime) else None


def duration_of(text: str) -> dt.timedelta | YearsMonths | None:
    parsed = _iso.parse_duration(text)
    if parsed is None:
        return None
    months, seconds = parsed
    has_time = bool(re.search(r"[WDT]", text))
    if months and has_time:
        return None
    if months or (not has_time and re.search(r"[YM]", text)):
        return YearsMonths(months)
    try:
        return dt.timedelta(microseconds=int(seconds * 1_000_000))
    except OverflowError:
        return None


def _duration(args: list[Any]) -> Any:
    return duration_of(args[0]) if isinstance(args[0], str) else None


def _years_and_months(args: list[Any]) -> YearsMonths | None:
    start, end = args
    if not isinstance(start, dt.date) or not isinstance(end, dt.date):
        return None
    if isinstance(start, dt.datetime) != isinstance(end, dt.datetime):
        start = start.date() if isinstance(start, dt.datetime) else start
        end = end.date() if isinstance(end, dt.datetime) else end
    months = (end.year - start.year) * 12 + end.month - start.month
    moved = add_months(start, months)
    if moved is not None and months > 0 and moved > end:
        months -= 1
    elif moved is not None and months < 0 and moved < end:
        months += 1
    return YearsMonths(months)


_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def _last_day_of_month(args: list[Any]) -> dt.date | None:
    day = args[0]
    if not isinstance(day, dt.date):
        return None
    day = day.date() if isinstance(day, dt.datetime) else day
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _day_of_week(args: list[Any]) -> str | None:
    return _DAYS[args[0].weekday()] if isinstance(args[0], dt.date) else None


def _month_of_year(args: list[Any]) -> str | None:
    return _MONTHS[args[0].month - 1] if isinstance(args[0], dt.date) else None


FUNCTIONS: dict[str, tuple[int, int | None, Callable[[list[Any]], Any]]] = {
    "date": (1, 3, _date),
    "time": (1, 4, _time),
    "date and time": (1, 2, _date_and_time),
    "duration": (1, 1, _duration),
    "years and months duration": (2, 2, _years_and_months),
    "now": (0, 0, lambda args: now()),
    "today": (0, 0, lambda args: today()),
    "day of week": (1, 1, _day_of_week),
    "month of year": (1, 1, _month_of_year),
    "last day of month": (1, 1, _last_day_of_month),  # Camunda's extension
}
