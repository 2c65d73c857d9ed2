"""What a parsed JSON body may hold beyond being JSON: the limits every request body meets.

JSON parses into values the runtime cannot take: arrays and objects nested so deep that
converting or encoding them exhausts Python's recursion limit, and strings holding a lone
surrogate (``"\\ud800"``, legal as a JSON escape) that no UTF-8 column can store. Both are
refused here, at the edge, naming where they are, before anything reaches the runtime.

Most bodies cannot hold either, and ``may_break_limits`` tells so from the raw bytes with two
C-speed scans, so the walk over the parsed value is paid only by bodies that might.
"""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 100
"""Levels of arrays and objects a request body may nest (the body itself is level 1)."""

TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels of arrays and objects"
SURROGATE = "holds a lone surrogate (not valid Unicode text)"


def may_break_limits(body: bytes) -> bool:
    """False when ``body`` can hold neither a lone surrogate nor nesting past ``MAX_DEPTH``.

    A lone surrogate needs a ``\\u`` escape or non-ASCII bytes (UTF-8 ``ED A0``...,
    UTF-16); nesting past the limit needs more than ``MAX_DEPTH`` opening brackets.
    """
    if not body.isascii() or b"\\u" in body:
        return True
    return body.count(b"[") + body.count(b"{") > MAX_DEPTH


def lone_surrogate(text: str) -> bool:
    """True when ``text`` holds a surrogate code point (never valid Unicode text on its own)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def json_problem(value: Any, where: str, *, depth: int = 1) -> tuple[str, str] | None:
    """Where the parsed JSON ``value`` (at level ``depth``) breaks the limits, and how.

    The place is a path from ``where`` (``body.items[2].name``), None when nothing does.
    The walk keeps its own stack, so a deep value cannot exhaust Python's.
    """
    stack: list[tuple[Any, str, int]] = [(value, where, depth)]
    while stack:
        item, path, level = stack.pop()
        if isinstance(item, str):
            if lone_surrogate(item):
                return path, SURROGATE
        elif isinstance(item, dict | list):
            if level > MAX_DEPTH:
                return where, TOO_DEEP
            if isinstance(item, list):
                stack.extend((v, f"{path}[{i}]", level + 1) for i, v in enumerate(item))
                continue
            for key, v in item.items():
                if lone_surrogate(key):
                    return path, f"a key {SURROGATE}"
                stack.append((v, f"{path}.{key}", level + 1))
    return None
