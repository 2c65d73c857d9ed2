"""Routing: how an event or a command reaches the process that drives its instance.

Theory of operation. On a database that several processes share, each unfinished instance is
driven by one of them (its *owner*, see the PostgreSQL store); any process may receive an
event or a command for it. What arrives is made durable first, where the owner will find it,
then the owner is woken:

- An event is stored once, by the process that received it, as on a single process. That
  process delivers it to the waits of its own instances and wakes the owners of the others
  (`Peers.wake`). An owner reads the events stored since its last read with the waits of its
  instances they match and delivers them; it also does so every poll interval, so that a
  lost wake-up delays an event by at most that long and never loses it. An instance counts
  each event once however often it is handed over (it remembers what it consumed).
- A command for one instance (cancel, resume, resolve an incident) is checked against the
  stored instance as its owner would check it, then goes into a durable inbox with a
  wake-up for the owner (`Peers.post`). The owner applies it and takes it out of the inbox
  only then; the owner at the time it is read applies it, so a command survives the crash
  of either process. The caller's answer is the owner's, except that it comes once the
  command is stored rather than once it is applied.
- An event or a command for an instance nobody drives now (its process died, or let it
  go) is delivered here as for one of this process's own: sending it to the instance
  claims it (``WorkflowActor``), which matters most for a suspended instance, which nobody
  claims by themselves. `Peers.take` does the same for a command whose owner died between
  the look-up and the post.
- An instance claimed from a process that died (or closed) is replayed, and takes then what
  that process may not have delivered: the events stored for its waits, as on any replay,
  and the signals and BPMN messages stored while its waits were open (`Peers.missed`),
  which a replay does not take otherwise.
- Waiting for the result of an instance driven elsewhere polls its row, with a backoff.

A database one process drives alone (SQLite) has nothing to route: `LocalPeers` says every
instance is this process's, and its service does nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any, Protocol

import attrs
import trio

from .store import EventRow, WaitRow


@attrs.frozen(kw_only=True)
class Command:
    """A command for the owner of `instance_id`: ``cancel`` (with `reason`), ``resume``, or
    ``resolve`` (incident `incident`, setting `variables` first)."""

    kind: str
    instance_id: str
    reason: str = ""
    incident: str = ""
    variables: Mapping[str, Any] | None = None


@attrs.define(kw_only=True)
class RoutingCounts:
    """What this process routed since it opened (for metrics)."""

    events_forwarded: int = 0
    """Events stored here for instances other processes drive (each once, however many)."""
    events_delivered: int = 0
    """Events other processes stored, handed here to a waiting instance of this process."""
    commands_posted: int = 0
    """Commands stored here for the processes that drive their instances."""
    commands_applied: int = 0
    """Commands other processes stored, applied (or refused as done already) here."""


class Peers(Protocol):
    """How a runtime reaches the processes that share its database."""

    counts: RoutingCounts

    def elsewhere(self, instance_ids: Collection[str]) -> dict[str, str]:
        """Of `instance_ids`, those another live process drives, each with that process's
        id. One that nobody drives now (its process died or let it go) is not among them:
        this process takes it when it sends it something."""
        ...

    def elsewhere_of(self, waits: Iterable[WaitRow]) -> dict[str, str]:
        """As `elsewhere`, for the instances of `waits`, from the owners the store read with
        them (``WaitRow.owner``): the event router asks nothing more of the database."""
        ...

    async def take(self, instance_id: str) -> str | None:
        """Make `instance_id` this process's unless another live process drives it: None
        when this process drives it now, else the id of the one that does. An instance whose
        process died (or let it go) is taken so, and is replayed here when it is next sent
        something."""
        ...

    def missed(self, instance_id: str) -> list[tuple[int, EventRow]]:
        """The signals and BPMN messages stored while the open waits of `instance_id` were
        open that they match (a message only when the wait is the first in line), each with
        its wait's step: asked once a claimed instance is replayed, for what its previous
        process may have died before delivering."""
        ...

    def wake(self, owners: Collection[str]) -> None:
        """Tell `owners` that events for their instances were stored."""
        ...

    def post(self, command: Command, owner: str) -> None:
        """Store `command` for the owner of its instance, and wake `owner`."""
        ...

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Deliver what other processes routed here, until cancelled; started before the
        runtime recovers, so that nothing stored from then on is missed."""
        ...


class LocalPeers:
    """The `Peers` of a database one process drives alone: there is nobody to reach."""

    def __init__(self) -> None:
        self.counts = RoutingCounts()

    def elsewhere(self, instance_ids: Collection[str]) -> dict[str, str]:
        return {}

    def elsewhere_of(self, waits: Iterable[WaitRow]) -> dict[str, str]:
        return {}

    async def take(self, instance_id: str) -> str | None:
        return None

    def missed(self, instance_id: str) -> list[tuple[int, EventRow]]:
        return []

    def wake(self, owners: Collection[str]) -> None:
        pass

    def post(self, command: Command, owner: str) -> None:
        raise AssertionError("a database driven by one process has no other owner")

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()


async def poll_until_settled(
    read: Any, settled: Collection[str], *, first: float = 0.02, longest: float = 0.5
) -> Any:
    """Call `read()` until what it returns has a status in `settled` (or is None), waiting
    `first` seconds after the first read and half as long again after each, at most
    `longest`: the row of an instance another process drives, until it finishes."""
    delay = first
    while True:
        row = read()
        if row is None or row.status in settled:
            return row
        await trio.sleep(delay)
        delay = min(longest, delay * 1.5)
