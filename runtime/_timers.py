"""The timer service: one heap of durable timers, fired on Trio's clock.

Timer rows are committed together with the record that started them; this service
only keeps them in memory to know when to wake. A timer that fires late or twice is
harmless: the workflow core ignores a ``TimerFired`` for a step no longer waiting.
"""

from __future__ import annotations

import heapq
from collections.abc import Awaitable, Callable

import attrs
import trio

from . import _records as r
from ._clock import WallClock

Deliver = Callable[[str, r.Input], Awaitable[None]]


@attrs.define(eq=False)
class TimerService:
    _clock: WallClock
    _deliver: Deliver
    _heap: list[tuple[float, str, int]] = attrs.field(factory=list)
    _pending: dict[tuple[str, int], float] = attrs.field(factory=dict)
    _changed: trio.Event = attrs.field(factory=trio.Event)
    fired: int = 0

    def schedule(self, instance_id: str, step: int, fire_at: float) -> None:
        """Fire ``TimerFired(step)`` at ``fire_at``; scheduling the same timer again is a no-op."""
        key = (instance_id, step)
        if self._pending.get(key) == fire_at:
            return
        self._pending[key] = fire_at
        entry = (fire_at, instance_id, step)
        heapq.heappush(self._heap, entry)
        if self._heap[0] is entry:
            self._changed.set()

    def __len__(self) -> int:
        return len(self._pending)

    async def run(self, *, task_status: trio.TaskStatus[TimerService]) -> None:
        task_status.started(self)
        while True:
            self._changed = trio.Event()
            if not self._heap:
                await self._changed.wait()
                continue
            fire_at, instance_id, step = self._heap[0]
            deadline = self._clock.trio_deadline(fire_at)
            if deadline > trio.current_time():
                with trio.move_on_at(deadline):
                    await self._changed.wait()
                continue
            heapq.heappop(self._heap)
            if self._pending.get((instance_id, step)) != fire_at:
                continue  # superseded by a later schedule of the same step
            del self._pending[(instance_id, step)]
            self.fired += 1
            await self._deliver(instance_id, r.TimerFired(step=step))
