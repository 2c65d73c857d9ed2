"""Reading an instance by replaying its journal: ``Runtime.query`` and ``Runtime.replay`` (and
the diagram and BPMN state views built on them), ``trioflow replay`` and ``trioflow resume
--db``. The runtime's reads go a slice of the journal at a time (``_replay.in_slices``)."""

from __future__ import annotations

from ._core import WorkflowCore, summary_of
from ._definitions import Registry
from ._errors import InstanceNotFound, NonDeterminismError, NotSuspended
from ._instance import ReplayReport
from ._replay import Replayed, at_once, in_slices, replay_stored
from .store import Append, InstanceRow, Store


def _row(store: Store, instance_id: str) -> InstanceRow:
    row = store.get(instance_id)
    if row is None:
        raise InstanceNotFound(f"no instance has id {instance_id!r}")
    return row


def _replaying(
    registry: Registry, store: Store, instance_id: str, *, whole: bool = False
) -> tuple[Replayed, int]:
    """The replay of the instance's current run: from its latest snapshot, or (``whole``,
    a determinism check) all of it, each snapshot checked on the way."""
    row = _row(store, instance_id)
    replaying = replay_stored(registry, store, row, from_snapshot=not whole)
    return replaying, row.last_seq - row.run_seq + 1


def _report(instance_id: str, records: int, divergence: NonDeterminismError | None) -> ReplayReport:
    if divergence is None:
        return ReplayReport(instance_id=instance_id, records=records, ok=True)
    return ReplayReport(
        instance_id=instance_id,
        records=records,
        ok=False,
        step=divergence.step,
        divergence=str(divergence),
    )


def replayed_core(registry: Registry, store: Store, instance_id: str) -> WorkflowCore:
    """A throwaway core brought up to date by replay (a divergence raises)."""
    core, divergence = at_once(_replaying(registry, store, instance_id)[0])
    if divergence is not None:
        raise divergence
    return core


async def replayed_core_in_slices(
    registry: Registry, store: Store, instance_id: str
) -> WorkflowCore:
    """``replayed_core`` with a checkpoint after every slice of the journal."""
    core, divergence = await in_slices(_replaying(registry, store, instance_id)[0])
    if divergence is not None:
        raise divergence
    return core


def replay_report(registry: Registry, store: Store, instance_id: str) -> ReplayReport:
    """Replay one instance's journal through the code in ``registry``, touching nothing."""
    replaying, records = _replaying(registry, store, instance_id, whole=True)
    core, divergence = at_once(replaying)
    core.close()
    return _report(instance_id, records, divergence)


async def replay_report_in_slices(
    registry: Registry, store: Store, instance_id: str
) -> ReplayReport:
    """``replay_report`` with a checkpoint after every slice of the journal."""
    replaying, records = _replaying(registry, store, instance_id, whole=True)
    core, divergence = await in_slices(replaying)
    core.close()
    return _report(instance_id, records, divergence)


def resume_stored(registry: Registry, store: Store, instance_id: str, at: float) -> ReplayReport:
    """Resume a suspended instance in ``store`` without running it: replay its journal
    through the code in ``registry`` and, if it agrees, store the status it leads to
    (``running`` or ``waiting``), so that the next runtime to open the store drives it.

    A divergence is reported and leaves the instance suspended.
    """
    row = _row(store, instance_id)
    if row.status != "suspended":
        raise NotSuspended(f"instance {instance_id!r} is {row.status}, not suspended")
    core, divergence = at_once(replay_stored(registry, store, row))
    if divergence is not None:
        core.close()
        return _report(instance_id, row.last_seq - row.run_seq + 1, divergence)
    summary = summary_of(core, at)
    core.close()
    (refused,) = store.write([Append(instance_id=instance_id, records=(), summary=summary)])
    if refused is not None:
        raise refused
    return _report(instance_id, row.last_seq - row.run_seq + 1, None)
