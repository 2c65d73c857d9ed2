"""An HTTP answer as plain data: a status, header lines and a body.

The start route and every problem document are made as an ``Answer``. A Quart route
hands Quart ``answer.response()``; the start route's fast path (``_start_route``) sends
the same answer as ASGI messages. Both put the same bytes on the wire.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import attrs
from quart import Response
from werkzeug.datastructures import Headers

JSON = "application/json"
# One encoder, built once: json.dumps builds a new one on every call given any option.
_COMPACT = json.JSONEncoder(separators=(",", ":"), sort_keys=True)


@attrs.frozen(kw_only=True)
class Answer:
    """``headers`` are ASGI header lines (lowercase names), Content-Type and Content-Length
    included."""

    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes

    def response(self) -> Response:
        """The answer as a Quart response (for a route that Quart serves)."""
        lines = Headers(
            [(name.decode("latin1"), value.decode("latin1")) for name, value in self.headers]
        )
        return Response(self.body, status=self.status, headers=lines)


def answer(
    status: int,
    body: bytes,
    *,
    content_type: str,
    before: Iterable[tuple[str, str]] = (),
    after: Iterable[tuple[str, str]] = (),
) -> Answer:
    """An answer whose header lines are ``before``, Content-Type, Content-Length, ``after``."""
    lines = [
        *_lines(before),
        (b"content-type", content_type.encode("latin1")),
        (b"content-length", str(len(body)).encode("latin1")),
        *_lines(after),
    ]
    return Answer(status=status, headers=tuple(lines), body=body)


def json_answer(value: Any, status: int, *, after: Iterable[tuple[str, str]] = ()) -> Answer:
    """``value`` as compact JSON with sorted keys and a final newline (Quart's own JSON
    responses, outside debug mode, look the same)."""
    text = _COMPACT.encode(value) + "\n"
    return answer(status, text.encode(), content_type=JSON, after=after)


def _lines(headers: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin1"), value.encode("latin1")) for name, value in headers]
