"""What every store refuses in an append before it touches the database: the shape of the
append itself, whatever the instance's stored journal holds."""

from __future__ import annotations

from ._interface import Append, SequenceConflict, StoreError


def append_problem(append: Append) -> StoreError | None:
    """Why ``append`` cannot be written anywhere, or None: a new instance without records,
    seqs that do not follow one another, a timer row of another instance."""
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
    for timer in append.timers_set:
        if timer.instance_id != instance_id:
            return StoreError(
                f"instance {instance_id!r}: a timer row must belong to the appending instance,"
                f" not {timer.instance_id!r}"
            )
    return None
