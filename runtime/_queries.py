"""Reading an instance by replaying its journal: ``Runtime.query`` and ``Runtime.replay`` (and
the diagram and BPMN state views built on them), ``trioflow replay`` and ``trioflow resume
--db``.

A journal is read and replayed a slice of records at a time. In the runtime, where this runs
on the Trio thread beside every instance, each slice ends with a checkpoint: a long-running
instance's journal of tens of thousands of records does not hold the event loop while it is
read. The records read are those of the instance's row as it was first read (``last_seq``),
a prefix of the journal that ends where an append ended.
"""

from __future__ import annotations

from collections.abc import Generator

import trio

from . import _records as r
from ._actor import core_for
from ._core import WorkflowCore, summary_of
from ._definitions import Registry
from ._errors import InstanceNotFound, NonDeterminismError, NotSuspended
from ._instance import ReplayReport
from ._replay import Replay
from .store import Append, Store

SLICE = 1000
"""Records read and replayed between two checkpoints."""

_Replayed = Generator[None, None, tuple[WorkflowCore, int, NonDeterminismError | None]]


def _replaying(registry: Registry, store: Store, instance_id: str) -> _Replayed:
    """Replay the journal, yielding after each slice; return the core, the number of records
    and the divergence, if any (the rest of the journal is then counted, not replayed)."""
    row = store.get(instance_id)
    if row is None:
        raise InstanceNotFound(f"no instance has id {instance_id!r}")
    replaying: Replay | None = None
    divergence: NonDeterminismError | None = None
    seq = 1
    while seq <= row.last_seq:
        upper = min(seq + SLICE - 1, row.last_seq)
        stored = store.read(instance_id, seq, upper)
        if len(stored) != upper - seq + 1:  # deleted (retention) while we read it
            raise InstanceNotFound(f"no instance has id {instance_id!r}")
        journal = [(r.decode(s.kind, s.version, s.data), s.at) for s in stored]
        if replaying is None:
            replaying = Replay(core_for(registry, row.workflow, instance_id, journal))
        if divergence is None:
            try:
                for record, at in journal:
                    replaying.feed(record, at)
            except NonDeterminismError as exc:
                divergence = exc
        seq = upper + 1
        if seq <= row.last_seq:
            yield
    if replaying is None:
        replaying = Replay(core_for(registry, row.workflow, instance_id, []))
    if divergence is None:
        try:
            replaying.finish()
        except NonDeterminismError as exc:
            divergence = exc
    return replaying.core, row.last_seq, divergence


def _at_once(replaying: _Replayed) -> tuple[WorkflowCore, int, NonDeterminismError | None]:
    while True:
        try:
            next(replaying)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


async def _in_slices(replaying: _Replayed) -> tuple[WorkflowCore, int, NonDeterminismError | None]:
    while True:
        try:
            next(replaying)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        await trio.lowlevel.checkpoint()


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
    core, _, divergence = _at_once(_replaying(registry, store, instance_id))
    if divergence is not None:
        raise divergence
    return core


async def replayed_core_in_slices(
    registry: Registry, store: Store, instance_id: str
) -> WorkflowCore:
    """``replayed_core`` with a checkpoint after every slice of the journal."""
    core, _, divergence = await _in_slices(_replaying(registry, store, instance_id))
    if divergence is not None:
        raise divergence
    return core


def replay_report(registry: Registry, store: Store, instance_id: str) -> ReplayReport:
    """Replay one instance's journal through the code in ``registry``, touching nothing."""
    core, records, divergence = _at_once(_replaying(registry, store, instance_id))
    core.close()
    return _report(instance_id, records, divergence)


async def replay_report_in_slices(
    registry: Registry, store: Store, instance_id: str
) -> ReplayReport:
    """``replay_report`` with a checkpoint after every slice of the journal."""
    core, records, divergence = await _in_slices(_replaying(registry, store, instance_id))
    core.close()
    return _report(instance_id, records, divergence)


def resume_stored(registry: Registry, store: Store, instance_id: str, at: float) -> ReplayReport:
    """Resume a suspended instance in ``store`` without running it: replay its journal
    through the code in ``registry`` and, if it agrees, store the status it leads to
    (``running`` or ``waiting``), so that the next runtime to open the store drives it.

    A divergence is reported and leaves the instance suspended.
    """
    row = store.get(instance_id)
    if row is None:
        raise InstanceNotFound(f"no instance has id {instance_id!r}")
    if row.status != "suspended":
        raise NotSuspended(f"instance {instance_id!r} is {row.status}, not suspended")
    core, records, divergence = _at_once(_replaying(registry, store, instance_id))
    summary = summary_of(core, at)
    core.close()
    if divergence is not None:
        return _report(instance_id, records, divergence)
    (refused,) = store.write([Append(instance_id=instance_id, records=(), summary=summary)])
    if refused is not None:
        raise refused
    return _report(instance_id, records, None)
