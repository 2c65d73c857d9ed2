"""Retention: finished instances and old events are deleted after an age, a batch at a time.

Theory of operation. A pass asks the store for the finished instances last updated before
``now - retention`` (the oldest first, `BATCH` at a time; a workflow with its own retention is
asked for apart), writes them to the archive when there is one (fsynced), then sends a
`DeleteInstances` naming them through the journal writer, where it shares a group commit with
the appends of running instances: no transaction of its own, no long hold of the writer. The
store deletes an instance only if it is still finished and old enough when the delete commits,
so a pass never deletes an unfinished instance whatever it read. Events go the same way
(`PurgeEvents`, `EVENT_BATCH` at a time) after their own retention. The runtime runs a pass
when it opens and then every `pass_interval`; ``trioflow prune`` runs one on demand.

A crash at any point loses nothing that should stay: each delete is one transaction, and
what a pass did not delete, the next one does.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence

import attrs
import trio

from ._archive import Archive
from ._definitions import Registry
from ._journal import JournalFull
from ._services import Services
from .store import (
    DeleteInstances,
    InstanceRow,
    PurgeEvents,
    Store,
    StoredRecord,
    StoreError,
    Write,
)

_log = logging.getLogger("trioflow")

DEFAULT_RETENTION = 7 * 86400.0
"""Finished instances are kept a week by default, as events are (Temporal keeps closed
workflows for its namespace's retention, 3 days by default self-hosted, 30 in its cloud)."""
BATCH = 500
"""Instances deleted per journal transaction at most."""
EVENT_BATCH = 2_000
"""Events deleted per journal transaction at most."""
_LONGEST_PASS_INTERVAL = 3600.0
_SHORTEST_PASS_INTERVAL = 0.1


@attrs.frozen(kw_only=True)
class Cutoff:
    """Delete the finished instances last updated before ``before``: of ``workflow`` only
    when given, and none of ``exclude``'s (workflows with a retention of their own)."""

    before: float
    workflow: str | None = None
    exclude: frozenset[str] = frozenset()


def cutoffs(registry: Registry, default: float | None, now: float) -> list[Cutoff]:
    """What the retention of ``registry``'s workflows (``default`` for those without one
    of their own; None keeps forever) deletes at ``now``."""
    own = {d.name: d.retention for d in registry.workflows() if d.retention != "runtime"}
    found = [
        Cutoff(before=now - seconds, workflow=name)
        for name, seconds in own.items()
        if seconds is not None
    ]
    if default is not None:
        found.append(Cutoff(before=now - default, exclude=frozenset(own)))
    return found


def pass_interval(registry: Registry, default: float | None, event_retention: float) -> float:
    """Seconds between passes: a tenth of the shortest retention, within 0.1 s and an hour."""
    own = [d.retention for d in registry.workflows() if not isinstance(d.retention, str | None)]
    shortest = min([event_retention, *own, *([] if default is None else [default])])
    return min(_LONGEST_PASS_INTERVAL, max(_SHORTEST_PASS_INTERVAL, shortest / 10))


@attrs.frozen(kw_only=True)
class PruneReport:
    """What a prune deleted (or, with ``dry_run``, would delete): instances by workflow and
    by status, and events."""

    dry_run: bool
    instances: int
    by_workflow: Mapping[str, int]
    by_status: Mapping[str, int]
    events: int
    archive: str | None = None


Write1 = Callable[[Write], Awaitable[None]]
"""Commits one write (through the journal writer, or straight to the store)."""


@attrs.define(eq=False)
class Pruner:
    """One prune over ``store``: ``run`` deletes what ``cutoffs`` and ``events_before``
    name, committing through ``write``, archiving first when there is an ``archive``.

    ``deleted`` is told the ids of each batch once its delete committed (the runtime lets
    go of their actors). With ``dry_run`` nothing is written: it counts. ``inline`` writes
    the archive in the event loop's thread, not a worker's: for virtual time, as the
    journal's ``commit_inline``.
    """

    store: Store
    write: Write1
    archive: Archive | None = None
    dry_run: bool = False
    deleted: Callable[[Sequence[str]], None] | None = None
    inline: bool = False
    _by_workflow: dict[str, int] = attrs.field(init=False, factory=dict)
    _by_status: dict[str, int] = attrs.field(init=False, factory=dict)
    _events: int = attrs.field(init=False, default=0)

    async def run(
        self, found: Iterable[Cutoff], events_before: float | None, now: float
    ) -> PruneReport:
        for cutoff in found:
            await self._instances(cutoff)
        if events_before is not None:
            await self._purge_events(events_before, now)
        return PruneReport(
            dry_run=self.dry_run,
            instances=sum(self._by_workflow.values()),
            by_workflow=dict(sorted(self._by_workflow.items())),
            by_status=dict(sorted(self._by_status.items())),
            events=self._events,
            archive=None if self.archive is None else self.archive.path,
        )

    async def _instances(self, cutoff: Cutoff) -> None:
        after: tuple[float, str] | None = None
        while True:
            rows = self.store.finished(
                before=cutoff.before,
                limit=BATCH,
                workflow=cutoff.workflow,
                exclude=cutoff.exclude,
                after=after,
            )
            if not rows:
                return
            after = (rows[-1].updated_at, rows[-1].id)
            if not self.dry_run:
                await self._delete(rows, cutoff.before)
            for row in rows:
                self._by_workflow[row.workflow] = self._by_workflow.get(row.workflow, 0) + 1
                self._by_status[row.status] = self._by_status.get(row.status, 0) + 1
            if len(rows) < BATCH:
                return

    async def _delete(self, rows: Sequence[InstanceRow], before: float) -> None:
        if self.archive is not None:
            archived: list[tuple[InstanceRow, Sequence[StoredRecord]]] = []
            for index, row in enumerate(rows):
                archived.append((row, self.store.read(row.id)))
                if index % 50 == 49:  # reading hundreds of journals: let others run between
                    await trio.lowlevel.checkpoint()
            if self.inline:
                self.archive.write(archived)
            else:
                await trio.to_thread.run_sync(self.archive.write, archived)
        ids = tuple(row.id for row in rows)
        await self.write(DeleteInstances(ids=ids, finished_before=before))
        if self.deleted is not None:
            self.deleted(ids)

    async def _purge_events(self, before: float, now: float) -> None:
        if self.dry_run:
            self._events = self.store.expired_events(before=before, buffered_at=now, limit=2**62)
            return
        while count := self.store.expired_events(before=before, buffered_at=now, limit=EVENT_BATCH):
            await self.write(PurgeEvents(before=before, limit=EVENT_BATCH, buffered_at=now))
            self._events += count
            if count < EVENT_BATCH:
                return


async def run_retention(
    services: Services,
    default: float | None,
    event_retention: float,
    archive: Archive | None,
    inline: bool = False,
) -> None:
    """The runtime's retention task: a pass at once, then one every `pass_interval`.

    A pass that fails (the store takes no writes, the journal queue is full, the archive
    cannot be written) is logged and tried again at the next: nothing is deleted that was
    not archived, and what was not deleted stays until then.
    """
    while True:
        now = services.clock.now()
        pruner = Pruner(
            store=services.store,
            write=services.journal.append,
            archive=archive,
            deleted=functools.partial(let_go, services),
            inline=inline,
        )
        try:
            report = await pruner.run(
                cutoffs(services.registry, default, now), now - event_retention, now
            )
        except (JournalFull, StoreError, OSError) as exc:
            _log.warning("retention: deleting old instances and events failed: %s", exc)
        else:
            if report.instances or report.events:
                _log.info(
                    "retention: deleted %d finished instances and %d events",
                    report.instances,
                    report.events,
                )
        await trio.sleep(pass_interval(services.registry, default, event_retention))


def let_go(services: Services, ids: Sequence[str]) -> None:
    """Deleted instances' actors may still be in memory, finished: they go too, so that a
    new start with one of their ids starts a new instance instead of finding the old one."""
    for instance_id in ids:
        services.system.stop(instance_id)


async def prune_stored(
    store: Store,
    *,
    older_than: float,
    now: float,
    dry_run: bool = False,
    archive: str | os.PathLike[str] | None = None,
    workflow: str | None = None,
    events_older_than: float | None = None,
    progress: Callable[[Sequence[str]], None] | None = None,
) -> PruneReport:
    """Delete from ``store`` (no runtime on it) the finished instances last updated more
    than ``older_than`` seconds before ``now``, of every workflow or of ``workflow``, and
    with ``events_older_than`` the events received that long before; each batch in a
    transaction of its own. ``dry_run`` only counts them (a read-only store will do).
    ``progress`` is told the ids of each batch deleted."""

    async def write(item: Write) -> None:
        (refused,) = await trio.to_thread.run_sync(store.write, [item])
        if refused is not None:
            raise refused

    pruner = Pruner(
        store=store,
        write=write,
        archive=None if archive is None else Archive(archive),
        dry_run=dry_run,
        deleted=progress,
    )
    events_before = None if events_older_than is None else now - events_older_than
    return await pruner.run(
        [Cutoff(before=now - older_than, workflow=workflow)], events_before, now
    )
