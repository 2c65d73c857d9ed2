"""The CloudEvents HTTP protocol binding 1.0, turned into the runtime's ``Event``.

Theory of operation: ``parse`` picks the content mode from the Content-Type and the
``ce-`` headers (structured: the body is one event in the JSON format; batch: a JSON
array of them; binary: attributes in ``ce-`` headers, the body is the data), gathers
the attributes into a plain dict and ``_event`` checks that dict against the spec,
collecting every problem with the attribute it concerns. A batch is checked whole
before anything is published: one bad event refuses it, naming its index. Nothing
here does I/O; a refusal is an ``HTTPProblem`` (400 names the attribute, 415 an
unsupported format).

Only the attributes the runtime keeps reach the ``Event``: ``type``, ``source``,
``id``, ``subject``, ``time`` and the ``instanceid`` and ``ttl`` extensions. The others
(``datacontenttype``, ``dataschema``, other extensions) are checked, then dropped.

``ttl`` keeps an event no BPMN message subscription took buffered for a while: a whole
number of seconds (an integer, or its digits as text, as a ``ce-ttl`` header carries it)
or an ISO 8601 duration of days, hours, minutes and seconds (``PT10M``, ``P1DT12H``).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import urllib.parse
from collections.abc import Iterable
from typing import Any

from runtime import Event

from ._limits import SURROGATE, json_problem, lone_surrogate
from ._middleware import decode_json, is_json
from ._problems import HTTPProblem

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
SPECVERSION = "1.0"

_REQUIRED = ("specversion", "id", "source", "type")
_OPTIONAL = ("subject", "time", "datacontenttype", "dataschema")
_EXTENSION_NAME = re.compile(r"[a-z0-9]{1,20}")
_TTL = re.compile(
    r"P(?:(?P<days>[0-9]+)D)?(?:T(?:(?P<hours>[0-9]+)H)?(?:(?P<minutes>[0-9]+)M)?"
    r"(?:(?P<seconds>[0-9]+(?:\.[0-9]+)?)S)?)?"
)
MAX_TTL = 100 * 365 * 86_400
_TTL_UNITS = {"days": 86_400, "hours": 3_600, "minutes": 60, "seconds": 1}
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]+)?"
    r"(?:[Zz]|[+-]([0-9]{2}):([0-9]{2}))"
)


class InvalidCloudEvent(HTTPProblem):
    """An event breaks the spec: a 400 naming each attribute (and the event's index in a batch)."""

    def __init__(self, problems: list[tuple[str, str]], index: int | None = None) -> None:
        where = "" if index is None else f"event [{index}]: "
        detail = where + "; ".join(f"{name}: {message}" for name, message in problems)
        extensions: dict[str, Any] = {
            "attribute": problems[0][0],
            "errors": [{"attribute": name, "detail": message} for name, message in problems],
        }
        if index is not None:
            extensions["index"] = index
        super().__init__(400, detail, kind="invalid-cloudevent", **extensions)
        self.problems = problems
        self.index = index


def parse(
    mimetype: str, headers: Iterable[tuple[str, str]], body: bytes
) -> tuple[list[Event], bool]:
    """The events a request carries, and whether it was a batch."""
    mimetype = mimetype.lower()
    # The limits on depth and text are checked per event, to name the attribute.
    if mimetype == STRUCTURED:
        return [_structured(decode_json(body, limits=False), None)], False
    if mimetype == BATCH:
        batch = decode_json(body, limits=False)
        if not isinstance(batch, list):
            raise HTTPProblem(400, "a batch must be a JSON array of events", kind="invalid-batch")
        return [_structured(item, index) for index, item in enumerate(batch)], True
    if mimetype.startswith("application/cloudevents"):
        raise HTTPProblem(
            415,
            f"the event format {mimetype} is not supported; use {STRUCTURED} or {BATCH}",
            kind="unsupported-media-type",
        )
    return [_binary(mimetype, headers, body)], False


def _structured(value: Any, index: int | None) -> Event:
    if not isinstance(value, dict):
        where = "" if index is None else f" (event [{index}])"
        raise HTTPProblem(400, f"an event must be a JSON object{where}", kind="invalid-cloudevent")
    attributes = dict(value)
    data = attributes.pop("data", None)
    if "data_base64" in attributes:
        problem = ("data_base64", "binary data is not supported; send JSON in 'data'")
        raise InvalidCloudEvent([problem], index)
    return _event(attributes, data, index, depth=2 if index is None else 3)


def _binary(mimetype: str, headers: Iterable[tuple[str, str]], body: bytes) -> Event:
    attributes: dict[str, Any] = {}
    for name, value in headers:
        lowered = name.lower()
        if lowered.startswith("ce-"):
            attributes[lowered[3:]] = _header_value(lowered[3:], value)
    if not attributes and mimetype and not is_json(mimetype):
        raise HTTPProblem(
            415,
            f"{mimetype} is not a CloudEvent: use {STRUCTURED}, {BATCH}, or ce-* headers",
            kind="unsupported-media-type",
        )
    if mimetype:
        attributes["datacontenttype"] = mimetype
    return _event(attributes, _binary_data(mimetype, body), None, depth=1)


def _header_value(name: str, value: str) -> str:
    """A ``ce-`` header's value: percent-encoded UTF-8 (binding spec, 3.1.3.2), handed over
    by the server as Latin-1. A 400 names the attribute when it is not UTF-8."""
    try:
        raw = urllib.parse.unquote_to_bytes(value.encode("latin1"))
        return raw.decode("utf-8")
    except UnicodeError:
        problem = (name, "must be percent-encoded UTF-8 text")
        raise InvalidCloudEvent([problem]) from None


def _binary_data(mimetype: str, body: bytes) -> Any:
    if not body:
        return None
    if not mimetype or is_json(mimetype):
        return decode_json(body, limits=False)
    if mimetype.startswith("text/"):
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidCloudEvent([("data", "text data must be UTF-8")]) from None
    raise HTTPProblem(
        415,
        f"event data of type {mimetype} is not supported; send JSON or text",
        kind="unsupported-media-type",
    )


def _event(attributes: dict[str, Any], data: Any, index: int | None, *, depth: int) -> Event:
    """The event; ``depth``: the level of its data in the body (1 in binary mode)."""
    problems = [problem for name in attributes for problem in _check_extension(name, attributes)]
    problems[:0] = [
        problem for name in _REQUIRED + _OPTIONAL for problem in _check(name, attributes)
    ]
    in_data = json_problem(data, "data", depth=depth)
    if in_data is not None:
        problems.append(in_data)
    if problems:
        raise InvalidCloudEvent(problems, index)
    return Event(
        type=attributes["type"],
        source=attributes["source"],
        id=attributes["id"],
        subject=attributes.get("subject"),
        time=attributes.get("time"),
        instanceid=attributes.get("instanceid"),
        ttl=ttl_seconds(attributes.get("ttl")),
        data=data,
    )


def ttl_seconds(value: Any) -> float | None:
    """The ``ttl`` extension in seconds (None when absent); ``_check_extension`` checked it."""
    if value is None:
        return None
    if isinstance(value, int):
        return float(value)
    if value.isdigit():
        return float(value)
    match = _TTL.fullmatch(value)
    assert match is not None
    return sum(float(match[unit]) * factor for unit, factor in _TTL_UNITS.items() if match[unit])


def _ttl_problem(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or (isinstance(value, int) and value < 0):
        return "must be a whole number of seconds, 0 or more, or an ISO 8601 duration (PT10M)"
    text = value if isinstance(value, str) else ""
    if not isinstance(value, int) and not (text.isascii() and text.isdigit()):
        match = _TTL.fullmatch(text)
        if match is None or text in ("P", "PT") or text.endswith("T"):
            return (
                f"must be a whole number of seconds or an ISO 8601 duration of days, hours,"
                f" minutes and seconds (PT10M), not {value!r}"
            )
    try:
        seconds = ttl_seconds(value)
    except OverflowError:
        seconds = math.inf
    if seconds is not None and seconds > MAX_TTL:
        return f"must be at most {MAX_TTL} seconds (about 100 years)"
    return None


def _check(name: str, attributes: dict[str, Any]) -> list[tuple[str, str]]:
    """Problems of one context attribute (null counts as absent, as in the JSON format)."""
    value = attributes.get(name)
    if value is None:
        return [(name, "required attribute is missing")] if name in _REQUIRED else []
    if not isinstance(value, str) or not value:
        return [(name, "must be a non-empty string")]
    if lone_surrogate(value):
        return [(name, SURROGATE)]
    if name == "specversion" and value != SPECVERSION:
        return [(name, f"must be {SPECVERSION!r}, not {value!r}")]
    if name == "time" and not is_rfc3339(value):
        return [(name, f"must be an RFC 3339 timestamp, not {value!r}")]
    return []


def _check_extension(name: str, attributes: dict[str, Any]) -> list[tuple[str, str]]:
    if name in _REQUIRED or name in _OPTIONAL:
        return []
    if not _EXTENSION_NAME.fullmatch(name):
        return [(name, "an extension attribute name must be 1 to 20 lowercase letters or digits")]
    if name == "data":
        return [(name, "is reserved and cannot be an extension attribute")]
    value = attributes[name]
    if name == "instanceid" and value is not None and (not isinstance(value, str) or not value):
        return [(name, "must be a non-empty string")]
    if value is not None and (isinstance(value, float) or not isinstance(value, str | int)):
        return [(name, "an extension attribute must be a string, an integer or a boolean")]
    if name == "ttl" and (problem := _ttl_problem(value)) is not None:
        return [(name, problem)]
    if isinstance(value, str) and lone_surrogate(value):
        return [(name, SURROGATE)]
    return []


def is_rfc3339(text: str) -> bool:
    """True for an RFC 3339 date-time (``2024-05-01T12:00:00Z``, offsets, fractions)."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        return False
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    try:
        dt.datetime(year, month, day, hour, minute, min(second, 59))  # 60: a leap second
    except ValueError:
        return False
    offset_hours, offset_minutes = match.group(7), match.group(8)
    if offset_hours is not None and (int(offset_hours) > 23 or int(offset_minutes) > 59):
        return False
    return second <= 60
