"""Instances that start other instances: the ids of called instances, and the runtime an
activity may ask to start, cancel or publish for it.

A BPMN call activity starts its child from an activity (at least once, so the start must
be idempotent): the child's id is made from the parent's id, the element's id and the
number of the call, so an attempt repeated after a crash finds the child started before
instead of starting a second one. ``parent_of`` reads the parent back from such an id.
"""

from __future__ import annotations

import contextvars
import re
from typing import Any, Protocol

from ._event import Event

_CHILD_ID = re.compile(
    r"(?P<parent>.+):(?P<element>[A-Za-z_][\w.\-]*):(?P<call>[1-9][0-9]*)", re.DOTALL
)


def child_instance_id(parent_id: str, element_id: str, call: int) -> str:
    """The id of the instance that call number ``call`` (from 1) of ``element_id`` starts."""
    return f"{parent_id}:{element_id}:{call}"


def parent_of(instance_id: str) -> tuple[str, str] | None:
    """The parent instance id and the calling element's id, for the id of a called
    instance (``<parent id>:<element id>:<call>``); None for any other id."""
    match = _CHILD_ID.fullmatch(instance_id)
    if match is None:
        return None
    return match["parent"], match["element"]


class Host(Protocol):
    """What an activity may ask of the runtime that runs it."""

    async def start(
        self, workflow: Any, input: Any = None, *, instance_id: str | None = None
    ) -> str: ...

    async def cancel(self, instance_id: str, reason: str = "") -> None: ...

    async def publish(self, event: Event) -> Any: ...

    async def broadcast_signal(self, name: str, variables: Any = None) -> Any: ...

    def workflows(self) -> list[Any]: ...


current_host: contextvars.ContextVar[Host] = contextvars.ContextVar("trioflow_host")
"""Set by the activity executor around each attempt it runs."""


def host() -> Host:
    """The runtime running the current activity attempt."""
    try:
        return current_host.get()
    except LookupError:
        raise RuntimeError("host() is only available inside an activity") from None
