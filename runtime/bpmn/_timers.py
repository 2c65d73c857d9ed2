"""Timer definitions: ISO 8601 durations, dates and repeating intervals, as plain numbers.

Durations become seconds, dates become epoch seconds, cycles become a ``Cycle``. The
clock is never read: ``first_due`` is told ``now``. Each text may instead be a FEEL
expression (leading ``=``), evaluated against the instance variables first; it may give
a string in the same ISO form, a duration (``duration("PT5M")``) or a date and time.

Durations with years or months are refused: their length depends on the calendar, and
a durable timer needs one number. Cron cycles and zone ids (``@Europe/Berlin``) are not
supported either.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import attrs

from . import _feel, _iso
from ._feel_values import describe
from ._model import BpmnError, TimerEventDefinition


class TimerError(BpmnError):
    """A timer definition is not a supported ISO 8601 duration, date or cycle."""


@attrs.frozen(kw_only=True)
class Cycle:
    """``R<repetitions>/[<start>/]<interval>``; ``repetitions`` None repeats forever.

    Without ``start`` the first firing is one interval after the timer is armed.
    """

    repetitions: int | None
    interval: float
    start: float | None = None

    def first_due(self, armed_at: float) -> float:
        return self.start if self.start is not None else armed_at + self.interval

    def next_due(self, previous_due: float, fired: int) -> float | None:
        """When to fire after having fired ``fired`` times, the last at ``previous_due``."""
        if self.repetitions is not None and fired >= self.repetitions:
            return None
        return previous_due + self.interval

    def due_after(self, after: float) -> float | None:
        """The first firing strictly after ``after`` (None: all done), counting firings
        from ``start``, or from an arming at 0 without one."""
        first = self.start if self.start is not None else self.interval
        fired = 0 if after < first else math.floor((after - first) / self.interval) + 1
        while True:
            if self.repetitions is not None and fired >= self.repetitions:
                return None
            due = first + fired * self.interval
            if due > after:  # rounding may leave the first guess one interval short
                return due
            fired += 1


def _static_duration(text: str) -> Decimal:
    parsed = _iso.parse_duration(text)
    if parsed is None or _iso.is_negative(text):
        hint = " (negative durations are not allowed)" if _iso.is_negative(text) else ""
        raise TimerError(
            f"timer duration {text!r} is not an ISO 8601 duration like 'PT5M' or 'P1DT2H'{hint}"
        )
    months, seconds = parsed
    if months:
        raise TimerError(
            f"timer duration {text!r} uses years or months, whose length depends on the "
            "calendar; use days, hours, minutes or seconds"
        )
    return seconds


def _evaluate(
    text: str, variables: Mapping[str, Any] | None, what: str, now: dt.datetime | None
) -> Any:
    try:
        return _feel.evaluate(text, variables or {}, now=now)
    except _feel.FeelError as error:
        raise TimerError(f"timer {what} {text!r}: {error}") from error


def parse_duration(
    text: str, variables: Mapping[str, Any] | None = None, *, now: dt.datetime | None = None
) -> float:
    """``timeDuration``: ``PT5M``, ``P1DT2H``, ``PT0.5S``, ``P2W``, or ``=<FEEL>``; seconds."""
    if text.strip().startswith("="):
        value = _evaluate(text, variables, "duration", now)
        if isinstance(value, dt.timedelta):
            return value.total_seconds()
        if not isinstance(value, str):
            raise TimerError(
                f"timer duration {text!r} gave {describe(value)}, not a duration or a string"
            )
        text = value
    return float(_static_duration(text))


def _static_date(text: str) -> float:
    clean = text.strip()
    if "@" in clean:
        raise TimerError(f"timer date {text!r}: zone ids are not supported, use an offset")
    try:
        moment = dt.datetime.fromisoformat(clean)
    except ValueError:
        raise TimerError(
            f"timer date {text!r} is not an ISO 8601 date and time like '2026-01-01T10:00:00Z'"
        ) from None
    if "T" not in clean.upper() or moment.tzinfo is None:
        raise TimerError(
            f"timer date {text!r} needs a time and a time zone ('Z' or an offset like '+02:00')"
        )
    return moment.timestamp()


def parse_date(
    text: str, variables: Mapping[str, Any] | None = None, *, now: dt.datetime | None = None
) -> float:
    """``timeDate``: ``2026-01-01T10:00:00Z``, ``...+02:00``, or ``=<FEEL>``; epoch seconds."""
    if text.strip().startswith("="):
        value = _evaluate(text, variables, "date", now)
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:
                raise TimerError(f"timer date {text!r} gave a date and time without a time zone")
            return value.timestamp()
        if not isinstance(value, str):
            raise TimerError(
                f"timer date {text!r} gave {describe(value)}, not a date and time or a string"
            )
        text = value
    return _static_date(text)


def _static_cycle(text: str) -> Cycle:
    clean = text.strip()
    parts = clean.split("/")
    repeat = re.fullmatch(r"R(\d*)", parts[0])
    if repeat is None or len(parts) not in (2, 3):
        hint = " (cron expressions are not supported)" if " " in clean else ""
        raise TimerError(
            f"timer cycle {text!r} is not an ISO 8601 repeating interval like 'R3/PT10S', "
            f"'R/PT1M' or 'R2/2026-01-01T00:00:00Z/PT1H'{hint}"
        )
    repetitions = int(repeat[1]) if repeat[1] else None
    if repetitions == 0:
        raise TimerError(f"timer cycle {text!r} must repeat at least once (R1 or more)")
    if len(parts) == 3 and not parts[1].startswith("P"):
        start: float | None = _static_date(parts[1])
    elif len(parts) == 3:
        raise TimerError(f"timer cycle {text!r}: an end date is not supported, give a start date")
    else:
        start = None
    interval = float(_static_duration(parts[-1]))
    if interval <= 0:
        raise TimerError(f"timer cycle {text!r} needs an interval longer than zero")
    return Cycle(repetitions=repetitions, interval=interval, start=start)


def parse_cycle(
    text: str, variables: Mapping[str, Any] | None = None, *, now: dt.datetime | None = None
) -> Cycle:
    """``timeCycle``: ``R3/PT10S``, ``R/PT1M`` (forever), ``R2/<start>/PT1H``, or ``=<FEEL>``."""
    if text.strip().startswith("="):
        value = _evaluate(text, variables, "cycle", now)
        if not isinstance(value, str):
            raise TimerError(f"timer cycle {text!r} gave {describe(value)}, not a string")
        text = value
    return _static_cycle(text)


def check_timer(definition: TimerEventDefinition) -> None:
    """Raise a TimerError now for a static text that would fail later (FEEL: syntax only)."""
    text = definition.expression
    if text.strip().startswith("="):
        try:
            _feel.compile(text)
        except _feel.FeelError as error:
            raise TimerError(f"timer {definition.kind} {text!r}: {error}") from error
    elif definition.kind == "duration":
        _static_duration(text)
    elif definition.kind == "date":
        _static_date(text)
    else:
        _static_cycle(text)


def first_due(
    definition: TimerEventDefinition, *, now: float, variables: Mapping[str, Any] | None = None
) -> float:
    """When a timer armed at ``now`` (epoch seconds) first fires, in epoch seconds.

    For a cycle, ``parse_cycle(definition.expression, variables).next_due`` gives the rest.
    FEEL's ``now()`` in the text is ``now``.
    """
    clock = dt.datetime.fromtimestamp(now, dt.UTC)
    if definition.kind == "duration":
        return now + parse_duration(definition.expression, variables, now=clock)
    if definition.kind == "date":
        return parse_date(definition.expression, variables, now=clock)
    return parse_cycle(definition.expression, variables, now=clock).first_due(now)


def start_schedule(
    definition: TimerEventDefinition,
) -> tuple[Callable[[float], float | None], bool]:
    """A timer start event's due times, as ``(schedule, relative)`` of a workflow definition.

    A date, or a cycle with a start date, gives epoch seconds; a duration, or a cycle
    without a start date, gives offsets from when the runtime opened (``relative``). A
    FEEL text is evaluated once, without variables: a start event has none yet.
    """
    if definition.kind == "cycle":
        cycle = parse_cycle(definition.expression)
        return cycle.due_after, cycle.start is None
    if definition.kind == "date":
        at, relative = parse_date(definition.expression), False
    else:
        at, relative = parse_duration(definition.expression), True
    return (lambda after: at if after < at else None), relative
