"""Events: CloudEvents that wake workflows waiting on them."""

from __future__ import annotations

import uuid
from typing import Any

import attrs


def _new_id() -> str:
    return str(uuid.uuid4())


@attrs.frozen(kw_only=True)
class Event:
    """A CloudEvent. ``(source, id)`` identifies it: a redelivery is a duplicate.

    ``instanceid`` (an extension attribute) targets one instance directly.
    """

    type: str
    source: str = "trioflow"
    id: str = attrs.field(factory=_new_id)
    subject: str | None = None
    data: Any = None
    time: str | None = None
    instanceid: str | None = None
