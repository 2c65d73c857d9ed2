"""Scheduled starts: each workflow with a ``schedule`` is started at every one of its due times.

The instance started at a due time has the id ``<workflow>@<int(due)>``, so a start is
idempotent: a restart never starts the same due twice. A schedule is absolute (its due
times are epoch seconds: a date, a cycle from a start date) or relative (its due times
are offsets from the moment the runtime opened: a duration, a cycle without a start
date; ``WorkflowDefinition.schedule_relative``). At open, the dues of an absolute
schedule that fell while no process ran are started at once, looking back at most the
event retention period (the store does not remember since when a schedule exists, so a
new schedule whose dues began earlier gets those of that period started too); a
relative schedule starts counting again at every open. Dues less than a second apart
share an id: only the first of them starts an instance.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable

import trio

from ._clock import WallClock
from ._definitions import WorkflowDefinition
from ._errors import Overloaded, StorageUnavailable, TrioflowError
from ._ports import StartInstance

_log = logging.getLogger("trioflow")


def scheduled_instance_id(definition: WorkflowDefinition, due: float) -> str:
    """The id of the instance a schedule starts at ``due`` (epoch seconds)."""
    return f"{definition.name}@{int(due)}"


async def run_schedules(
    workflows: Iterable[WorkflowDefinition],
    start: StartInstance,
    clock: WallClock,
    lookback: float,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Start every workflow registered with a schedule at its due times, until cancelled.

    Reports started once the dues missed while the process was down have been started.
    Workflows registered after the runtime opened are not scheduled.
    """
    scheduled = [d for d in workflows if d.schedule is not None]
    async with trio.open_nursery() as nursery:
        for definition in scheduled:
            await nursery.start(_run_one, start, clock, definition, lookback)
        task_status.started()


async def _run_one(
    start: StartInstance,
    clock: WallClock,
    definition: WorkflowDefinition,
    lookback: float,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    assert definition.schedule is not None
    opened_at = clock.now()
    next_due: Callable[[float], float | None]
    if definition.schedule_relative:
        offsets = definition.schedule

        def next_due(after: float) -> float | None:
            offset = offsets(after - opened_at)
            return None if offset is None else opened_at + offset

        after = -math.inf
    else:
        next_due = definition.schedule
        after = opened_at - lookback
    caught_up = False
    while (due := next_due(after)) is not None:
        if due > clock.now():
            if not caught_up:
                caught_up = True
                task_status.started()
            await trio.sleep_until(clock.trio_deadline(due))
        await _start(start, definition, scheduled_instance_id(definition, due))
        after = due
    if not caught_up:
        task_status.started()


async def _start(start: StartInstance, definition: WorkflowDefinition, instance_id: str) -> None:
    while True:
        try:
            await start(definition.name, None, instance_id=instance_id)
        except Overloaded:
            await trio.sleep(0.1)  # backpressure: try this due again shortly
            continue
        except StorageUnavailable as refused:  # the store takes no writes: not a lost due
            await trio.sleep(refused.retry_after)
            continue
        except TrioflowError as error:  # bad input, an id taken by another workflow
            _log.error("scheduled start of %r failed: %s", instance_id, error)
        return
