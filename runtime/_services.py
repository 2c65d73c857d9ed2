"""What every workflow actor shares: storage, executor, timers, and the runtime's hooks."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import attrs
import trio

from actors import ActorSystem

from . import _records as r
from ._clock import WallClock
from ._definitions import Registry
from ._executor import ActivityExecutor
from ._journal import JournalWriter
from ._messages import Deliver
from ._routing import LocalPeers, Peers
from ._timers import TimerService
from .store import InstanceRow, Owner, SharedStore, Store, Summary

_T = TypeVar("_T")


@attrs.define(eq=False)
class Services:
    """What every workflow actor shares: storage, executor, timers, and the runtime's hooks."""

    registry: Registry
    store: Store
    journal: JournalWriter
    clock: WallClock
    shared: SharedStore | None = None
    """The store again when several processes share it (each drives the instances it
    owns); None when this process drives every instance (SQLite)."""
    inline: bool = False
    """Run the store's blocking calls in the event loop's thread (``commit_inline``)."""
    executor: ActivityExecutor = attrs.field(init=False)
    timers: TimerService = attrs.field(init=False)
    system: ActorSystem[str, Any] = attrs.field(init=False)
    peers: Peers = attrs.field(factory=LocalPeers)
    """The other processes driving instances of the same database (`_routing`)."""
    _settled: dict[str, Settled] = attrs.field(factory=dict)
    _claims: set[tuple[str, str, str]] = attrs.field(factory=set)
    _claimed: set[str] = attrs.field(factory=set)
    """Instances this process claimed from another and has not replayed since
    (`just_claimed`)."""

    def claimed(self, instance_ids: Iterable[str]) -> None:
        """`instance_ids` were just made this process's, from a process that died or let go."""
        self._claimed.update(instance_ids)

    def just_claimed(self, instance_id: str) -> bool:
        """Whether `instance_id` was claimed since it was last replayed here (asked once, by
        the replay: its previous process may have left signals and messages undelivered)."""
        if instance_id in self._claimed:
            self._claimed.discard(instance_id)
            return True
        return False

    def claim(self, key: tuple[str, str, str]) -> bool:
        """Reserve the event ``(source, id)`` for one message subscription of ``workflow``:
        False if an instance of that workflow took it or is taking it. ``release`` it once the
        taking is committed (the store then says so) or did not happen."""
        if key in self._claims or self.store.is_correlated(*key):
            return False
        self._claims.add(key)
        return True

    def release(self, key: tuple[str, str, str]) -> None:
        self._claims.discard(key)

    async def take(self, instance_id: str, row: InstanceRow | None = None) -> Owner | None:
        """Make `instance_id` this process's to drive, unless another live process owns it:
        None when it is ours (always, for a store that is not shared), else that owner.
        `row`, the instance's row just read, answers at once when it names this process."""
        shared = self.shared
        if shared is None or (row is not None and row.owner == shared.owner):
            return None
        held = shared.owner_of(instance_id)  # one read, no thread: mostly it is ours
        if held is not None and (held.id == shared.owner or held.live):
            return None if held.id == shared.owner else held
        held = await self.blocking(shared.claim, instance_id)
        if held is None:
            self.claimed([instance_id])
        return held

    async def blocking(self, call: Callable[..., _T], *args: Any) -> _T:
        """``call(*args)``, a call that waits on the database, off the event loop's thread
        (unless `inline`)."""
        if self.inline:
            result = call(*args)
            await trio.lowlevel.checkpoint()
            return result
        return await trio.to_thread.run_sync(call, *args)

    async def deliver(self, instance_id: str, record: r.Input) -> None:
        await self.system.send(instance_id, Deliver(record=record))

    def instance_settled(self, instance_id: str, summary: Summary | None = None) -> None:
        """The instance finished or was suspended: wake whoever waits for its result."""
        settled = self._settled.pop(instance_id, None)
        if settled is not None:
            settled.summary = summary
            settled.event.set()

    def settled(self, instance_id: str) -> Settled:
        settled = self._settled.get(instance_id)
        if settled is None:
            settled = self._settled[instance_id] = Settled()
        return settled


@attrs.define(eq=False)
class Settled:
    """Wakes result waiters; carries the final summary so they need not read it back."""

    event: trio.Event = attrs.field(factory=trio.Event)
    summary: Summary | None = None
