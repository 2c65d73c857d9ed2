"""Events: CloudEvents that wake workflows waiting on them."""

from __future__ import annotations

import uuid
from typing import Any

import attrs

from ._errors import InvalidInput

SIGNAL_TYPE_PREFIX = "trioflow.signal:"
"""A signal named ``n`` is an event of type ``trioflow.signal:n``: broadcast to the waits
open when it is sent, never buffered for a wait that opens later (as in Zeebe)."""


def signal_type(name: str) -> str:
    """The event type of the signal ``name``."""
    return SIGNAL_TYPE_PREFIX + name


def is_signal(event_type: str) -> bool:
    return event_type.startswith(SIGNAL_TYPE_PREFIX)


def _new_id() -> str:
    return str(uuid.uuid4())


def _text(event: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    """A string attribute must be text every store can hold: no lone surrogate ("\\ud800"),
    no NUL character (PostgreSQL's text has none)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidInput([f"event.{attribute.name}: holds a NUL character (U+0000)"])
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput(
                [f"event.{attribute.name}: holds a lone surrogate (not valid Unicode text)"]
            ) from None


@attrs.frozen(kw_only=True)
class Event:
    """A CloudEvent. ``(source, id)`` identifies it: a redelivery is a duplicate.

    ``instanceid`` (an extension attribute) targets one instance directly. ``ttl`` (an
    extension attribute, seconds) keeps an event no BPMN message subscription took
    buffered that long: the first subscription that opens for it within that time takes it.
    A string attribute holding a lone surrogate or a NUL character raises ``InvalidInput``
    naming it.
    """

    type: str = attrs.field(validator=_text)
    source: str = attrs.field(default="trioflow", validator=_text)
    id: str = attrs.field(factory=_new_id, validator=_text)
    subject: str | None = attrs.field(default=None, validator=_text)
    data: Any = None
    time: str | None = attrs.field(default=None, validator=_text)
    instanceid: str | None = attrs.field(default=None, validator=_text)
    ttl: float | None = None
