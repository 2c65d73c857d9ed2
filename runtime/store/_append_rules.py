"""What every store refuses in an append: its own shape (before any statement), and whether
it continues the instance's stored journal (once the store has read the last seq)."""

from __future__ import annotations

from ._interface import (
    Append,
    InstanceExists,
    MessageTaken,
    SequenceConflict,
    StoreError,
    UnknownInstance,
)


def append_problem(append: Append) -> StoreError | None:
    """Why ``append`` cannot be written anywhere, or None: a new instance without records,
    seqs that do not follow one another, a run that begins outside its records, a timer row
    of another instance."""
    instance_id = append.instance_id
    records = append.records
    if not records and append.new is not None:
        return SequenceConflict(f"instance {instance_id!r}: a new instance needs a first record")
    for offset, record in enumerate(records):
        if record.seq != records[0].seq + offset:
            return SequenceConflict(
                f"instance {instance_id!r}: records must have consecutive seqs:"
                f" expected seq {records[0].seq + offset}, got {record.seq}"
            )
    run = append.run
    if run is not None and not (records and records[0].seq <= run.seq <= records[-1].seq):
        return SequenceConflict(
            f"instance {instance_id!r}: run {run.run} must begin at one of the append's records,"
            f" not at seq {run.seq}"
        )
    for timer in append.timers_set:
        if timer.instance_id != instance_id:
            return StoreError(
                f"instance {instance_id!r}: a timer row must belong to the appending instance,"
                f" not {timer.instance_id!r}"
            )
    return None


def continuation_problem(append: Append, last: int | None) -> StoreError | None:
    """Why ``append`` does not continue a journal whose last seq is ``last`` (None: no such
    instance is stored), or None."""
    instance_id = append.instance_id
    if append.new is not None:
        if last is not None:
            return InstanceExists(f"instance {instance_id!r} already exists")
        last = 0
    elif last is None:
        return UnknownInstance(
            f"instance {instance_id!r} does not exist (its first append must set `new`)"
        )
    first = append.records[0].seq if append.records else None
    if first is not None and first != last + 1:
        return SequenceConflict(f"instance {instance_id!r}: expected seq {last + 1}, got {first}")
    return None


def taken_message(append: Append) -> MessageTaken:
    """The refusal of an append whose message another instance of its workflow took."""
    taken = ", ".join(f"{id_!r} from {source!r}" for source, id_, _ in append.correlated)
    return MessageTaken(
        f"instance {append.instance_id!r}: another instance of its workflow took the message"
        f" ({taken}) first"
    )
