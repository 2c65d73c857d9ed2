"""The values `PostgresStore` writes, checked as SQLite's STRICT tables check theirs, and
the errors that refuse one append or event rather than the whole transaction."""

from __future__ import annotations

from typing import Any

import psycopg
import psycopg.errors

VALUE_ERRORS = (
    psycopg.IntegrityError,
    psycopg.DataError,
    psycopg.errors.CardinalityViolation,
    TypeError,
    ValueError,
    OverflowError,
)
"""Errors that concern one row's own values, not the transaction: the writer refuses that
append (or event) alone and the rest of the group commits."""


def real(value: Any) -> float:
    """A float column's value: an int or a float, not NaN (SQLite stores NaN as NULL and
    refuses it; so does this store, so that both keep the same data)."""
    if type(value) is float:
        if value != value:
            raise ValueError("NaN is not a time")
        return value
    if type(value) is int:
        return float(value)
    raise TypeError(f"expected a number, got {type(value).__name__}")


def text(value: Any) -> str:
    """A text column's value: a str and nothing else (as SQLite's STRICT tables take)."""
    if type(value) is not str:
        raise TypeError(f"expected text, got {type(value).__name__}")
    return value


def optional_text(value: Any) -> str | None:
    return None if value is None else text(value)


def integer(value: Any) -> int:
    if type(value) is not int:
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


def optional_real(value: Any) -> float | None:
    return None if value is None else real(value)
