"""Wall-clock time that follows Trio's clock, so tests on a MockClock jump days at once."""

from __future__ import annotations

import time

import attrs
import trio


@attrs.define(eq=False)
class WallClock:
    """Epoch seconds, anchored to the real time when the runtime opened and then advanced
    by Trio's clock. Durable timers store epoch seconds; the timer service sleeps on Trio's."""

    _wall_at_open: float = attrs.field(factory=time.time)
    _trio_at_open: float = attrs.field(factory=trio.current_time)

    def now(self) -> float:
        return self._wall_at_open + (trio.current_time() - self._trio_at_open)

    def trio_deadline(self, wall: float) -> float:
        return self._trio_at_open + (wall - self._wall_at_open)
