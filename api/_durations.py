"""Durations on the command line: ``30s``, ``15m``, ``12h``, ``7d``, and ``never``."""

from __future__ import annotations

import argparse
import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d{1,9})([smhd])")


def duration(text: str) -> float:
    """Seconds of a duration such as ``30s``, ``15m``, ``12h`` or ``7d`` (more than 0);
    ``argparse.ArgumentTypeError`` naming what is wrong otherwise."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: a whole number followed by s, m, h or d"
            " (30s, 15m, 12h, 7d)"
        )
    seconds = int(match[1]) * _UNITS[match[2]]
    if seconds == 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the duration must be more than 0")
    return float(seconds)


def retention(text: str) -> float | None:
    """A retention: a `duration`, or ``never`` (None: kept forever)."""
    if text.strip() == "never":
        return None
    try:
        return duration(text)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{exc}, or never") from None
