"""What both stores share in paging `Store.list`: its limits and orders, the cursor's text
and the page built from the rows a store read (each row: its pk, then the instance row's
columns in `InstanceRow` order)."""

from __future__ import annotations

import base64
import binascii
import builtins
import math
from collections.abc import Sequence
from typing import Any

from ._interface import Page
from ._rows import instance_row

MAX_SEQ = 2**63 - 1
MAX_PAGE = 500
ORDERS = ("created", "updated", "-updated")


def page_request(limit: int, order: str, cursor: str | None) -> tuple[bool, tuple[Any, ...] | None]:
    """(backwards, key) of a `list` call; ValueError naming a bad limit, order or cursor.
    A key past every pk is brought down to the largest one a store holds."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
    if order not in ORDERS:
        raise ValueError(f"order must be one of {', '.join(ORDERS)}, got {order!r}")
    if cursor is None:
        return False, None
    backwards, key = decode_cursor(cursor, order)
    if key[-1] > MAX_SEQ:  # no pk is that large
        key = (*key[:-1], MAX_SEQ)
    return backwards, key


def keyset(
    order: str, backwards: bool, key: tuple[Any, ...] | None, mark: str
) -> tuple[str | None, str]:
    """The condition that keeps the rows past `key` (None without one; its bindings are the
    key's values, each written `mark`) and the ORDER BY of a page travelling that way."""
    ascending = (order != "-updated") != backwards
    direction = "" if ascending else " DESC"
    if order == "created":
        columns, marks, sort = "pk", mark, "pk" + direction
    else:
        columns, marks = "(updated_at, pk)", f"({mark}, {mark})"
        sort = f"updated_at{direction}, pk{direction}"
    after = None if key is None else f"{columns} {'>' if ascending else '<'} {marks}"
    return after, sort


def page_of(
    rows: builtins.list[Any], limit: int, order: str, backwards: bool, from_cursor: bool
) -> Page:
    """The page of the first `limit` of `rows` (read one past the limit, in the direction of
    travel)."""
    more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
    keys = [key_of(row, order) for row in rows]
    # Going forwards, the rows before the cursor are a previous page; going backwards,
    # the rows after it are a next one (either may have gone meanwhile: an empty page).
    has_next = more if not backwards else True
    has_prev = more if backwards else from_cursor
    if not rows:
        has_next = has_prev = False
    return Page(
        items=tuple(instance_row(row[1:]) for row in rows),
        next_cursor=encode_cursor("after", order, keys[-1]) if has_next else None,
        prev_cursor=encode_cursor("before", order, keys[0]) if has_prev else None,
    )


def key_of(row: Sequence[Any], order: str) -> tuple[Any, ...]:
    """Where a row stands in `order`: (pk,) or (updated_at, pk)."""
    return (row[0],) if order == "created" else (row[9], row[0])


def encode_cursor(direction: str, order: str, key: tuple[Any, ...]) -> str:
    text = f"{direction}:{key[-1]}"
    if order != "created":  # ("after:<pk>" is what cursors were before there were orders)
        text += f":{float(key[0])!r}:{order}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, order: str) -> tuple[bool, tuple[Any, ...]]:
    """(backwards, key) of a cursor `list` made for `order`; ValueError for any other."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        direction, number, *rest = text.split(":")
        if direction not in ("after", "before") or not number.isdigit():
            raise ValueError
        if len(rest) != (0 if order == "created" else 2) or rest[1:] not in ([], [order]):
            raise ValueError
        updated = [float(r) for r in rest[:1]]
        if not all(math.isfinite(u) for u in updated):
            raise ValueError
        return direction == "before", (*updated, int(number))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValueError("invalid cursor") from None


def after_prefix(prefix: str) -> str | None:
    """The least string above every string that starts with `prefix` (SQLite compares
    UTF-8 bytes, which order as code points do); None when there is none to write."""
    following = ord(prefix[-1]) + 1
    if following > 0x10FFFF:
        return None
    if 0xD800 <= following <= 0xDFFF:  # no text holds a surrogate: skip past them
        following = 0xE000
    return prefix[:-1] + chr(following)
