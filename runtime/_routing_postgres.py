"""`LinkedPeers`: the `Peers` of a process sharing a PostgreSQL database with others.

It talks to the others through the store's link (``PostgresStore.link``: the events cursor,
the command inbox, ``NOTIFY``) and listens on its own channel from a worker thread. Its
service wakes on a notification or after ``poll_interval`` seconds, whichever comes first,
and then catches up: the events stored since its last read, handed to the waits of its own
instances they match (a BPMN message to the first subscription in line of each workflow,
only when that one is ours: its owner delivers it otherwise), and the commands in the inbox
for its instances. See `_routing` for the whole design.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable
from typing import Any

import attrs
import trio

from . import _records as r
from ._errors import Overloaded, StorageUnavailable, TrioflowError
from ._messages import Deliver, Reply
from ._routing import Command, RoutingCounts
from ._services import Services
from .store import EventRow, StoreError, WaitRow
from .store._postgres_link import PostgresLink
from .store._postgres_listen import LOST, Listener
from .store._postgres_routing import EventCursor, Routed

_log = logging.getLogger("trioflow")

Apply = Callable[[Command], Awaitable[None]]
"""Carries out a command for an instance this process drives (the runtime's own method)."""


@attrs.define(eq=False)
class LinkedPeers:
    """See the module docstring. `apply` carries out a command read from the inbox."""

    _link: PostgresLink
    _services: Services
    _apply: Apply
    _poll_interval: float = 1.0
    _cursor: EventCursor | None = None
    _listener: Listener | None = None
    caught_up: int = 0
    """How many catch-ups ran (for tests)."""
    counts: RoutingCounts = attrs.Factory(RoutingCounts)

    @property
    def owner(self) -> str:
        return self._link.owner

    # --- Peers ---------------------------------------------------------------------------

    def elsewhere(self, instance_ids: Collection[str]) -> dict[str, str]:
        if not instance_ids:
            return {}
        try:
            owners = self._link.owners_of(instance_ids)
        except StoreError as exc:
            # Sent here, an instance another live process drives refuses it: nothing is
            # done twice, and what was stored reaches it through its poll.
            _log.warning("cannot read who drives %d instances: %s", len(instance_ids), exc)
            return {}
        # An instance nobody drives now is this process's to take: sent something here, it
        # is claimed and replayed (``WorkflowActor``), rather than waiting for a claim.
        return {iid: owner for iid, owner in owners.items() if owner and owner != self.owner}

    def elsewhere_of(self, waits: Iterable[WaitRow]) -> dict[str, str]:
        # A wait's instance nobody drives now is this process's to take, as in `elsewhere`.
        return {
            wait.instance_id: wait.owner
            for wait in waits
            if wait.owner is not None and wait.owner != self.owner
        }

    async def take(self, instance_id: str) -> str | None:
        held = await self._services.take(instance_id)
        return None if held is None else held.id

    def missed(self, instance_id: str) -> list[tuple[int, EventRow]]:
        try:
            return self._link.missed(instance_id)
        except StoreError as exc:
            _log.warning(
                "cannot read the signals and messages instance %s missed: %s", instance_id, exc
            )
            return []

    def wake(self, owners: Collection[str]) -> None:
        others = {owner for owner in owners if owner and owner != self.owner}
        if others:
            self.counts.events_forwarded += 1
            try:
                self._link.notify(others, "e")
            except StoreError as exc:  # the event is stored: their poll finds it
                _log.warning("cannot notify %s: %s", sorted(others), exc)

    def post(self, command: Command, owner: str) -> None:
        text = json.dumps(
            {
                "kind": command.kind,
                "reason": command.reason,
                "incident": command.incident,
                "variables": None if command.variables is None else dict(command.variables),
            },
            separators=(",", ":"),
            sort_keys=True,
        )
        at = self._services.clock.now()
        try:
            self._link.post_command(command.instance_id, text, at, owner or None)
            self.counts.commands_posted += 1
        except StoreError as exc:
            raise StorageUnavailable(
                f"the {command.kind} of instance {command.instance_id!r} could not be stored"
                f" for the process that drives it ({owner}): {exc}"
            ) from exc

    # --- the service ---------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self._cursor = self._link.cursor()
        self._listener = await trio.to_thread.run_sync(self._link.listener)
        try:
            task_status.started()
            interrupted = False
            while True:
                heard = await trio.to_thread.run_sync(
                    self._listener.wait, self._poll_interval, abandon_on_cancel=True
                )
                if heard == LOST and not interrupted:  # said once, not every poll of an outage
                    _log.warning("listening for other processes was interrupted; catching up")
                interrupted = heard == LOST
                await self.catch_up()
        finally:
            self._listener.close()
            with contextlib.suppress(StoreError):
                self._link.notify([self.owner], "closed")  # wakes the waiting thread
            self._link.close()

    async def catch_up(self) -> None:
        """Deliver the events stored since the last read and apply the commands waiting."""
        assert self._cursor is not None
        try:
            while True:
                routed, cursor = self._link.events_after(self._cursor)
                self._cursor = cursor
                if not routed:
                    break
                await self._deliver(routed)
                await trio.lowlevel.checkpoint()  # a long backlog does not hold the loop
            commands = self._link.commands()
        except StoreError as exc:
            _log.warning("cannot read what other processes routed here: %s", exc)
            return
        done = []
        for command in commands:
            if await self._apply_stored(command.instance_id, command.command):
                done.append(command.pos)
        if done:
            try:
                self._link.done(done)
            except StoreError as exc:  # applied again next time: each refuses a repeat
                _log.warning("cannot take applied commands out of the inbox: %s", exc)
        self.caught_up += 1

    async def _deliver(self, routed: list[Routed]) -> None:
        by_event: dict[int, list[Routed]] = {}
        for item in routed:
            if item.wait is not None:
                by_event.setdefault(item.pos, []).append(item)
        for items in by_event.values():
            data = json.loads(items[0].event.event)
            lines: dict[str, list[Routed]] = {}
            for item in items:
                assert item.wait is not None
                if item.wait.message is not None and item.event.instanceid is None:
                    lines.setdefault(item.wait.message, []).append(item)
                elif item.owner == self.owner:
                    await self._send(item, data)
            for line in lines.values():
                # A message goes to the first subscription in line that takes it; the owner
                # of a subscription ahead of ours decides for it.
                for item in line:  # in the order they opened
                    if item.owner != self.owner or await self._send(item, data, reply=True):
                        break

    async def _send(self, item: Routed, data: Any, *, reply: bool = False) -> bool:
        assert item.wait is not None
        record = r.EventReceived(step=item.wait.step, event=data)
        answer = Reply() if reply else None
        await self._services.system.send(
            item.wait.instance_id, Deliver(record=record, reply=answer)
        )
        if answer is None:
            self.counts.events_delivered += 1
            return True
        try:
            taken = await answer.wait() is True
        except (TrioflowError, StoreError):
            return False
        self.counts.events_delivered += taken
        return taken

    async def _apply_stored(self, instance_id: str, text: str) -> bool:
        """Apply one stored command; False to leave it for the next catch-up (the store
        takes no writes now)."""
        try:
            fields = json.loads(text)
            command = Command(
                kind=fields["kind"],
                instance_id=instance_id,
                reason=fields.get("reason", ""),
                incident=fields.get("incident", ""),
                variables=fields.get("variables"),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            _log.error("dropping an unreadable command for instance %s: %r", instance_id, exc)
            return True
        try:
            await self._apply(command)
        except (StorageUnavailable, Overloaded):
            return False
        except (TrioflowError, StoreError) as exc:
            # Done already (finished, resumed, resolved) or no longer there: as the owner
            # would have answered the sender, who was told what the store said then.
            _log.info("command %s for instance %s: %s", command.kind, instance_id, exc)
        self.counts.commands_applied += 1
        return True
