"""What the runtime reports of many instances, or of one as this process sees it: pages,
counts by status and metrics, with ``blocked`` (known to this process only, while the store
takes no writes for an instance) laid over the stored rows."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from ._instance import Instance, InstancePage, blocked_page
from ._journal import Blocked, JournalStats
from ._routing import RoutingCounts
from .store import STATUSES, InstanceRow, Store


@attrs.frozen(kw_only=True)
class RuntimeStats:
    """A snapshot for metrics: instance counts come from the store, the rest from this process."""

    instances: Mapping[str, int]
    """Instances by status (every instance ever started is counted under one)."""
    journal: JournalStats
    journal_queued: int
    mailbox_depth: int
    resident: int
    activities_completed: int
    activities_failed: int
    activities_in_flight: int
    storage_failure: str | None = None
    """Why the store fails every journal transaction now (retried); None while it writes."""
    routing: RoutingCounts = attrs.Factory(RoutingCounts)
    """What this process routed to and from others sharing its database (`_routing`)."""


def instance_of(row: InstanceRow, blocked: Mapping[str, Blocked]) -> Instance:
    """The stored row with what only this process knows laid over it: ``blocked``."""
    if not blocked:
        return Instance.from_row(row)
    reason = blocked.get(row.id)
    return Instance.from_row(row, None if reason is None else (reason.reason, reason.since))


def instance_page(
    store: Store,
    blocked: Mapping[str, Blocked],
    *,
    status: str | None,
    workflow: str | None,
    limit: int,
    cursor: str | None,
    id_prefix: str | None,
    order: str,
) -> InstancePage:
    """``Runtime.list``."""
    if status is not None and status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
    if status == "blocked":  # known in memory only: in creation order, whatever `order`
        if id_prefix:
            blocked = {k: v for k, v in blocked.items() if k.startswith(id_prefix)}
        return blocked_page(store, blocked, workflow, limit, cursor)
    page = store.list(
        status=status,
        workflow=workflow,
        limit=limit,
        cursor=cursor,
        id_prefix=id_prefix,
        order=order,
    )
    items = tuple(instance_of(row, blocked) for row in page.items)
    if blocked and status is not None:  # a blocked instance is listed as blocked only
        items = tuple(i for i in items if i.status == status)
    return InstancePage(items=items, next_cursor=page.next_cursor, prev_cursor=page.prev_cursor)


def status_counts(
    store: Store, blocked: Mapping[str, Blocked], *, workflow: str | None, id_prefix: str | None
) -> dict[str, int]:
    """``Runtime.counts``: every one of ``STATUSES``, 0 included."""
    counts = store.counts_by_status(workflow=workflow, id_prefix=id_prefix)
    counts = {status: counts.get(status, 0) for status in STATUSES}
    for instance_id in blocked:
        row = store.get(instance_id)
        if row is None or (workflow is not None and row.workflow != workflow):
            continue
        if id_prefix and not instance_id.startswith(id_prefix):
            continue
        counts[row.status] -= 1
        counts["blocked"] += 1
    return counts


def stored_counts(store: Store, blocked: Mapping[str, Blocked]) -> Mapping[str, int]:
    """The statuses there are instances in (for metrics), a blocked instance as blocked."""
    instances = store.counts_by_status()
    if blocked:
        instances = dict(instances)
        for instance_id in blocked:
            row = store.get(instance_id)
            if row is not None:
                instances[row.status] -= 1
                instances["blocked"] = instances.get("blocked", 0) + 1
    return instances
