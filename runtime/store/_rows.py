"""The rows both stores read back, made into the values of the `Store` interface (columns
in the order of the interface's fields)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._interface import EventRow, InstanceRow, WaitRow


def instance_row(row: Sequence[Any]) -> InstanceRow:
    (id_, workflow, status, input_, output, error, waiting_on, created, updated, last) = row[:10]
    return InstanceRow(
        id=id_,
        workflow=workflow,
        status=status,
        input=input_,
        output=output,
        error=error,
        waiting_on=waiting_on,
        created_at=created,
        updated_at=updated,
        last_seq=last,
        run=row[10],
        run_seq=row[11],
        owner=row[12] if len(row) > 12 else None,
    )


def wait_row(row: tuple[Any, ...], owner: str | None = None) -> WaitRow:
    instance_id, step, type_, subject, message, opened = row
    return WaitRow(
        instance_id=instance_id,
        step=step,
        type=type_,
        subject=subject,
        message=message,
        opened=opened,
        owner=owner,
    )


def event_row(row: tuple[Any, ...]) -> EventRow:
    source, id_, type_, subj, target, event, received_at, expires_at = row
    return EventRow(
        source=source,
        id=id_,
        type=type_,
        subject=subj,
        instanceid=target,
        event=event,
        received_at=received_at,
        expires_at=expires_at,
    )
