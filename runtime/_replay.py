"""Replay: a recorded journal's inputs fed back through a fresh core, which must decide the
outputs recorded after each; a difference is a ``NonDeterminismError`` naming the step.

A stored journal is read and replayed a slice of records at a time (``replay_stored``). On
the Trio thread, where an actor's recovery and the runtime's queries run beside every other
instance, each slice ends with a checkpoint (``in_slices``): a long-running instance's
journal of tens of thousands of records does not hold the event loop while it is read. The
records read are those of the instance's row as it was read (``last_seq``), a prefix of the
journal that ends where an append ended.

An instance whose workflow takes snapshots (a BPMN process, ``_snapshot``) is rebuilt from
its latest ``Snapshot`` record and replays only the records after it; a snapshot that
cannot be used (written by an incompatible version, say) is logged and the whole journal is
replayed. Replaying the whole journal (``from_snapshot=False``: ``Runtime.replay``) checks
that each snapshot on the way is the state the replay reached there.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterable, Sequence

import trio

from . import _records as r
from ._core import WorkflowCore
from ._definitions import Registry
from ._errors import InstanceNotFound, NonDeterminismError, WorkflowNotFound
from .store import InstanceRow, Store, StoredRecord

_log = logging.getLogger("trioflow")

SNAPSHOT = r.kind_of(r.Snapshot)

SLICE = 1000
"""Records read and replayed between two checkpoints."""

Replayed = Generator[None, None, tuple[WorkflowCore, NonDeterminismError | None]]


def replay_stored(
    registry: Registry, store: Store, row: InstanceRow, *, from_snapshot: bool = True
) -> Replayed:
    """Replay the journal of the instance of ``row`` (its current run: from ``run_seq``, or
    from its latest snapshot when ``from_snapshot``) through a fresh core for the code in
    ``registry``, yielding after each slice; return the core and the divergence, if any.

    ``WorkflowNotFound`` when ``registry`` lacks the workflow (or the version) it started
    with; ``InstanceNotFound`` when the instance is deleted while it is read.
    """
    replaying: Replay | None = None
    seq = row.run_seq
    restored = restored_core(registry, store, row) if from_snapshot else None
    if restored is not None:
        replaying = Replay(restored, check_snapshots=False)
        seq = restored.snapshot_seq + 1
    while seq <= row.last_seq:
        upper = min(seq + SLICE - 1, row.last_seq)
        stored = store.read(row.id, seq, upper)
        if len(stored) != upper - seq + 1:  # deleted (retention) while we read it
            raise InstanceNotFound(f"no instance has id {row.id!r}")
        journal = _decoded(stored)
        if replaying is None:
            core = core_for(registry, row.workflow, row.id, journal)
            replaying = Replay(core, check_snapshots=not from_snapshot)
        try:
            for record, at in journal:
                replaying.feed(record, at)
        except NonDeterminismError as exc:
            return replaying.core, exc
        seq = upper + 1
        if seq <= row.last_seq:
            yield
    if replaying is None:
        replaying = Replay(core_for(registry, row.workflow, row.id, []))
    try:
        replaying.finish()
    except NonDeterminismError as exc:
        return replaying.core, exc
    return replaying.core, None


def restored_core(registry: Registry, store: Store, row: InstanceRow) -> WorkflowCore | None:
    """A core brought to the instance's latest snapshot (``core.snapshot_seq``), or None:
    its workflow takes none, it has none, or the one it has cannot be used (logged)."""
    try:
        latest = registry.workflow(row.workflow)
    except WorkflowNotFound:
        return None
    if getattr(latest.fn, "resume", None) is None:
        return None
    stored = store.last_of_kind(row.id, SNAPSHOT, row.run_seq, row.last_seq)
    if stored is None:
        return None
    core: WorkflowCore | None = None
    try:
        snapshot = r.decode(stored.kind, stored.version, stored.data)
        assert isinstance(snapshot, r.Snapshot)
        version = snapshot.state["core"]["version"]
        core = WorkflowCore(registry.workflow(row.workflow, version), row.id, registry.activity)
        core.restore(snapshot.state, stored.at)
    except Exception as exc:
        if core is not None:
            core.close()
        _log.warning(
            "instance %s: its snapshot at seq %d cannot be used (%s: %s); replaying its"
            " whole journal",
            row.id,
            stored.seq,
            type(exc).__name__,
            exc,
        )
        return None
    core.snapshot_seq = stored.seq
    return core


def _decoded(stored: Sequence[StoredRecord]) -> list[tuple[r.Record, float]]:
    """Stored records decoded; a snapshot this code cannot read is left out (it only
    shortens rehydration, and a whole replay needs none)."""
    journal = []
    for s in stored:
        try:
            record = r.decode(s.kind, s.version, s.data)
        except r.RecordDecodeError:
            if s.kind == SNAPSHOT:
                continue
            raise
        journal.append((record, s.at))
    return journal


def at_once(replaying: Replayed) -> tuple[WorkflowCore, NonDeterminismError | None]:
    """Run a ``replay_stored`` to its end."""
    while True:
        try:
            next(replaying)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


async def in_slices(replaying: Replayed) -> tuple[WorkflowCore, NonDeterminismError | None]:
    """Run a ``replay_stored`` to its end, with a checkpoint after every slice."""
    while True:
        try:
            next(replaying)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        await trio.lowlevel.checkpoint()


def core_for(
    registry: Registry, workflow: str, instance_id: str, journal: list[tuple[r.Record, float]]
) -> WorkflowCore:
    """A fresh core for the definition version that ``journal`` started with."""
    definition = registry.workflow(workflow, started_version(journal))
    return WorkflowCore(definition, instance_id, registry.activity)


def started_version(journal: list[tuple[r.Record, float]]) -> str | None:
    """The definition version an instance started with (None for unversioned code)."""
    if journal and isinstance(journal[0][0], r.WorkflowStarted):
        return journal[0][0].version
    return None


def describe(record: r.Record) -> str:
    """Human wording of a record for nondeterminism reports."""
    if isinstance(record, r.ActivityScheduled):
        args = [repr(a) for a in record.args] + [f"{k}={v!r}" for k, v in record.kwargs.items()]
        return f"activity {record.name}({', '.join(args)})"
    if isinstance(record, r.TimerStarted):
        return f"a {record.purpose} timer"
    if isinstance(record, r.WaitStarted):
        return f"a wait for event {record.type!r}"
    if isinstance(record, r.IncidentRaised):
        return f"an incident at {record.element_id!r} ({record.message})"
    if isinstance(record, r.WorkflowCompleted):
        return "workflow completion"
    if isinstance(record, r.WorkflowFailed):
        return f"workflow failure ({record.error.type}: {record.error.message})"
    if isinstance(record, r.WorkflowCancelled):
        return "workflow cancellation"
    if isinstance(record, r.WorkflowContinued):
        return "continue_as_new"
    if isinstance(record, r.StepCancelled):
        return f"withdrawal of step {record.step}"
    return r.kind_of(type(record))


def _step_of(record: r.Record | None, default: int) -> int:
    return int(getattr(record, "step", default))


def replay(core: WorkflowCore, journal: Iterable[tuple[r.Record, float]]) -> None:
    """Feed a recorded journal through ``core``; raise at the first divergence."""
    replaying = Replay(core)
    for record, at in journal:
        replaying.feed(record, at)
    replaying.finish()


class Replay:
    """A recorded journal fed through a core record by record, so that a long journal can be
    read and replayed a slice at a time; ``NonDeterminismError`` at the first divergence."""

    def __init__(self, core: WorkflowCore, *, check_snapshots: bool = True) -> None:
        """``check_snapshots``: each ``Snapshot`` record must be the state the core reached
        there (a determinism check); else they are passed over (rehydration, which falls
        back to the whole journal when a snapshot cannot be used, must not trip on it)."""
        self.core = core
        self._check_snapshots = check_snapshots
        self._expected: list[r.Output] = []
        self._produced: list[r.Output] = []

    def feed(self, record: r.Record, at: float) -> None:
        if isinstance(record, r.Snapshot):
            self._compare()
            self._expected, self._produced = [], []
            if self._check_snapshots and self.core.capture() != record.state:
                raise NonDeterminismError(
                    self.core.next_step,
                    "a snapshot of the instance's state here",
                    "another state (or none that can be captured)",
                )
            return
        if r.is_input(record):
            self._compare()
            out = self.core.receive(record, at)  # type: ignore[arg-type]
            if out is None:
                raise NonDeterminismError(
                    _step_of(record, 0),
                    f"{r.kind_of(type(record))} to be accepted",
                    "no pending step it belongs to",
                )
            self._expected, self._produced = [], out
        else:
            self._expected.append(record)  # type: ignore[arg-type]

    def finish(self) -> None:
        """The journal ended: its last outputs must be the ones the core decided."""
        self._compare()

    def _compare(self) -> None:
        expected, produced = self._expected, self._produced
        for i in range(max(len(expected), len(produced))):
            want = expected[i] if i < len(expected) else None
            got = produced[i] if i < len(produced) else None
            if want != got:
                step = _step_of(want, _step_of(got, self.core.next_step))
                raise NonDeterminismError(
                    step,
                    describe(want) if want is not None else "nothing more",
                    describe(got) if got is not None else "nothing",
                )
