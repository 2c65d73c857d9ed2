"""What the core decides for one input, as plain values: the records to journal after it, the
rows the append sets and clears, and the commands to carry out once it is committed.

The actor only moves these values: it journals ``outputs`` after the input with the rows and
``summary`` in one append, then carries out the commands: it runs ``activities``, arms the
timers of ``timers_set`` and lets each wait of ``waits_set`` first look for a stored event.
"""

from __future__ import annotations

import attrs

from . import _records as r
from ._errors import InvalidInput
from .store import Summary, TimerRow, WaitRow


@attrs.frozen(kw_only=True)
class Commands:
    """What runs once a decision is committed (or, at recovery, what was in flight)."""

    activities: tuple[r.ActivityScheduled, ...] = ()
    """Activity attempts to run."""
    timers: tuple[TimerRow, ...] = ()
    """Timers to arm: sleeps, retry backoffs and wait timeouts."""
    waits: tuple[WaitRow, ...] = ()
    """Waits that began: each first takes a matching event stored before it."""


@attrs.frozen(kw_only=True)
class Decision:
    """The whole answer of ``WorkflowCore.decide`` to one input.

    ``taken`` False: the input is stale or refused and must not be journaled; ``refused``
    then says why when it was an event whose data does not fit the wait it matched.
    (One object per input, on the hot path: the commands are fields of it, not a second
    object; ``commands`` makes one for whoever wants them together.)
    """

    taken: bool
    outputs: tuple[r.Output, ...] = ()
    """The records journaled after the input, in order."""
    summary: Summary | None = None
    """The instance's summary row as of this input (None when not taken)."""
    timers_set: tuple[TimerRow, ...] = ()
    """Timer rows to write, and the timers to arm once they are committed."""
    timers_cleared: tuple[int, ...] = ()
    """Steps whose timer row goes: it fired, or its step ended or was withdrawn."""
    waits_set: tuple[WaitRow, ...] = ()
    """Wait rows to write; each new wait first takes a matching event stored before it."""
    waits_cleared: tuple[int, ...] = ()
    """Steps whose wait row goes: the wait took its event, timed out, or was withdrawn."""
    activities: tuple[r.ActivityScheduled, ...] = ()
    """Activity attempts to run once the append is committed."""
    finished: bool = False
    """The instance reached its outcome with this input (the last of ``outputs``)."""
    refused: InvalidInput | None = None

    @property
    def commands(self) -> Commands:
        return Commands(activities=self.activities, timers=self.timers_set, waits=self.waits_set)


STALE = Decision(taken=False)
