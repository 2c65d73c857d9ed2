"""What is sent to a workflow actor (``_actor.WorkflowActor``), and its one-shot reply.

Below both the actor and the services that send to it (``_services``, ``_events``,
``_runtime``), so that neither has to import the other to name a message.
"""

from __future__ import annotations

from typing import Any

import attrs
import trio

from . import _records as r


@attrs.define(eq=False)
class Reply:
    """A one-shot answer to whoever sent a message (set once it is committed)."""

    _done: trio.Event = attrs.field(factory=trio.Event)
    _value: Any = None
    _error: BaseException | None = None

    def set(self, value: Any) -> None:
        if not self._done.is_set():
            self._value = value
            self._done.set()

    def fail(self, error: BaseException) -> None:
        if not self._done.is_set():
            self._error = error
            self._done.set()

    async def wait(self) -> Any:
        await self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value


@attrs.frozen(kw_only=True)
class Start:
    record: r.WorkflowStarted
    input_text: str  # the input as JSON text, encoded once by Runtime.start
    reply: Reply


@attrs.frozen(kw_only=True)
class Deliver:
    record: r.Input
    reply: Reply | None = None


@attrs.frozen(kw_only=True)
class Wake:
    """Makes the actor resident (recovery, resume); answered once it has started."""

    reply: Reply | None = None
    resume: bool = False
    """Drive a suspended instance again (``Runtime.resume``): it is read and replayed."""


Message = Start | Deliver | Wake
