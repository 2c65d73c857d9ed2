"""ISO 8601 durations, read once for both timers and FEEL's ``duration()``.

A duration splits in two, as FEEL splits it: whole months (years and months, whose
length depends on the calendar) and exact seconds (weeks, days, hours, minutes,
seconds). Pure text handling: no clock, no FEEL, so both sides can import it.
"""

from __future__ import annotations

import re
from decimal import Decimal

_NUMBER = r"\d+(?:[.,]\d+)?"
_DURATION = re.compile(
    rf"""(?P<sign>-)?P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>{_NUMBER})W)?
         (?:(?P<days>{_NUMBER})D)?
         (?:T(?:(?P<hours>{_NUMBER})H)?(?:(?P<minutes>{_NUMBER})M)?(?:(?P<seconds>{_NUMBER})S)?)?""",
    re.VERBOSE,
)
_UNIT_SECONDS = {"weeks": 604_800, "days": 86_400, "hours": 3_600, "minutes": 60, "seconds": 1}


def parse_duration(text: str) -> tuple[int, Decimal] | None:
    """``(months, seconds)`` of an ISO 8601 duration (signs applied), or None if not one."""
    clean = text.strip()
    match = _DURATION.fullmatch(clean)
    body = clean.lstrip("-")
    if match is None or body in ("P", "PT") or body.endswith("T"):
        return None
    months = int(match["years"] or 0) * 12 + int(match["months"] or 0)
    seconds = sum(
        (
            Decimal(match[unit].replace(",", ".")) * factor
            for unit, factor in _UNIT_SECONDS.items()
            if match[unit]
        ),
        Decimal(0),
    )
    if match["sign"]:
        return -months, -seconds
    return months, seconds


def is_negative(text: str) -> bool:
    return text.strip().startswith("-")
