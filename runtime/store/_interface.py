"""The storage interface: what the runtime asks of a database, and the rows it gets back.

The store moves opaque JSON text. It knows instances, their journals and their timers, but not
what a record means: encoding records is the workflow core's job. Every state change arrives as an
`Append` (records plus the summary they lead to), so the summary row can never run ahead of the
journal that backs it.
"""

from __future__ import annotations

import builtins
from collections.abc import Collection, Sequence
from typing import Protocol, runtime_checkable

import attrs

TERMINAL = frozenset({"completed", "failed", "cancelled"})
"""Statuses an instance never leaves. Reaching one drops the instance's remaining timer rows."""
# Every status an instance can have, in the order a person reads them. `blocked` (its next
# append waits for a store that takes no writes) is only known to the running process: it is
# never stored, queries lay it over the stored status.
STATUSES = (
    "running",
    "waiting",
    "blocked",
    "incident",
    "completed",
    "failed",
    "cancelled",
    "suspended",
)


@attrs.frozen(kw_only=True)
class StoredRecord:
    """One journal record: its place in the instance's journal and its encoded payload."""

    seq: int
    kind: str
    version: int
    at: float  # epoch seconds
    data: str  # JSON text


@attrs.frozen(kw_only=True)
class NewInstance:
    """What is stored once, when an instance is created."""

    workflow: str
    input: str  # JSON text
    created_at: float


@attrs.frozen(kw_only=True)
class NewRun:
    """An append that begins run `run` of its instance (``continue_as_new``): the record `seq`,
    one of the append's own, is the new run's first.

    From then on the instance is rehydrated from `seq` (`InstanceRow.run_seq`); the records
    before it stay, as the instance's earlier runs. The instance's timer and wait rows, all of
    earlier runs, are deleted before the append's `timers_set` and `waits_set` apply.
    """

    run: int
    seq: int


@attrs.frozen(kw_only=True)
class Summary:
    """The instance's state after an append, kept in its row for queries."""

    status: str
    waiting_on: str | None = None
    output: str | None = None
    error: str | None = None
    updated_at: float


@attrs.frozen(kw_only=True)
class TimerRow:
    """A durable timer: step `step` of instance `instance_id` fires at `fire_at` (epoch seconds)."""

    instance_id: str
    step: int
    fire_at: float


@attrs.frozen(kw_only=True)
class WaitRow:
    """Step `step` of instance `instance_id` waits for an event of `type` (and `subject`)."""

    instance_id: str
    step: int
    type: str
    subject: str | None
    message: str | None = None
    """For a BPMN message subscription, its instance's workflow: an untargeted event goes to one
    such wait per workflow, the one opened first (``opened``). None: every wait takes it."""
    opened: int = attrs.field(default=0, eq=False)
    """Set by the store, increasing with each wait stored: the order subscriptions opened in
    (not part of equality: a row written is equal to the one read back)."""
    owner: str | None = attrs.field(default=None, eq=False)
    """On a store several processes share, the live process that drives the instance, read
    with the wait (`Store.waits_for`, `Store.waits_of`); None when nobody does now, and
    always None elsewhere (not part of equality)."""


@attrs.frozen(kw_only=True)
class EventRow:
    """A stored event; `(source, id)` is unique. `event` is the whole event as JSON text."""

    source: str
    id: str
    type: str
    subject: str | None
    instanceid: str | None
    event: str
    received_at: float
    expires_at: float | None = None
    """Until when a BPMN message subscription opened later may still take it (its ``ttl``)."""


@attrs.frozen(kw_only=True)
class EventBatch:
    """Events stored all together or not at all (a CloudEvents batch).

    An event whose `(source, id)` is stored already is a redelivery, not a failure: the
    others are stored and the batch's slot holds `DuplicateEvents` naming the redelivered.
    """

    events: tuple[EventRow, ...]


@attrs.frozen(kw_only=True)
class PurgeEvents:
    """Delete the events received before `before` (epoch seconds): the retention period.

    Events go oldest first (by ``received_at``), at most `limit` of them (None: all), so
    that one purge never holds the writer long. With `buffered_at` (epoch seconds), an event
    still buffered for message subscriptions then (its ``expires_at`` at or after it) is
    kept whatever its age. A correlation (which workflow took an event) goes with its event.
    """

    before: float
    limit: int | None = None
    buffered_at: float | None = None


@attrs.frozen(kw_only=True)
class DeleteInstances:
    """Delete the instances named in `ids` with everything they own: their row, journal,
    timers and waits; each only if it is finished (its status in TERMINAL) and was last
    updated before `finished_before` (epoch seconds), else it is left as it is.

    An id that names no such instance is skipped, never an error: an unfinished instance
    is never deleted, whatever the caller believed. The correlations an instance took stay
    until their event is purged, so a buffered message is not taken twice by one workflow.
    """

    ids: tuple[str, ...]
    finished_before: float


@attrs.frozen(kw_only=True)
class Append:
    """Records for one instance, written atomically together with the summary they lead to."""

    instance_id: str
    records: tuple[StoredRecord, ...]
    """Consecutive seqs; the first is `last_seq + 1` (1 for a new instance). Empty only for a
    summary-only update of an existing instance (suspending it, say)."""
    summary: Summary
    new: NewInstance | None = None
    """Set on the very first append of an instance: the instance row is created."""
    timers_set: tuple[TimerRow, ...] = ()
    """Upserted: (instance_id, step) -> fire_at. Each row's instance_id is this append's."""
    timers_cleared: tuple[int, ...] = ()
    """Steps of this instance whose timer row is deleted (before `timers_set` is applied).

    A summary whose status is in TERMINAL deletes all of the instance's timer rows instead.
    """
    waits_set: tuple[WaitRow, ...] = ()
    """Event waits started by these records (upserted by step)."""
    waits_cleared: tuple[int, ...] = ()
    """Steps of this instance whose wait row is deleted; a TERMINAL summary deletes them all."""
    correlated: tuple[tuple[str, str, str], ...] = ()
    """``(source, id, workflow)`` of untargeted events a message subscription of this instance
    took: no other instance of that workflow takes them."""
    run: NewRun | None = None
    """Set when these records end one run of the instance and begin the next (see `NewRun`).
    Its `seq` must be one of `records`' seqs, else the append is refused (`SequenceConflict`)."""


Write = Append | EventRow | EventBatch | PurgeEvents | DeleteInstances
"""What one `Store.write` group holds."""


@attrs.frozen(kw_only=True)
class InstanceRow:
    """An instance as queries see it: its creation data and its latest summary."""

    id: str
    workflow: str
    status: str
    input: str
    output: str | None
    error: str | None
    waiting_on: str | None
    created_at: float
    updated_at: float
    last_seq: int
    run: int = 1
    """The instance's current run: 1, then one more with each ``continue_as_new``."""
    run_seq: int = 1
    """The seq of the current run's first record: rehydration replays from there."""
    owner: str | None = attrs.field(default=None, eq=False)
    """On a store several processes share, the id of the one that owns it (see `Owner`), as
    `Store.get` read it; None there when nobody does, and always None elsewhere."""


@attrs.frozen(kw_only=True)
class Page:
    """One page of `Store.list`; pass `next_cursor` back for the next page (None: last page)
    and `prev_cursor` for the one before (None: first page)."""

    items: tuple[InstanceRow, ...]
    next_cursor: str | None
    prev_cursor: str | None = None


@attrs.frozen(kw_only=True)
class Owner:
    """A process that writes the database (an ``owners`` row), as another one sees it."""

    id: str
    """Unique to one opening of a store, never reused: a process that reopens is another
    owner. Text of at most 63 bytes (it fits a PostgreSQL identifier, a NOTIFY channel)."""
    host: str
    pid: int
    url: str | None
    """Where the process serves HTTP, if it said so (`PostgresStore.advertise`)."""
    expires_at: float
    """When its lease runs out, epoch seconds of the database server's clock."""
    live: bool
    """Whether its lease ran on when this was read: an owner that is not live may have
    died; its instances are claimed by the others."""


class StoreError(Exception):
    """The store refused or failed a request. Base of the more specific errors below.

    Store errors are internal at the HTTP boundary (500): the runtime turns the ones a user can
    cause (an existing instance id) into its own errors before they get there.
    """

    http_status = 500


class InstanceExists(StoreError):
    """A `new` append named an instance id that is already stored."""


class UnknownInstance(StoreError):
    """An append without `new` named an instance id that is not stored."""


class SequenceConflict(StoreError):
    """An append's records do not continue the instance's journal (a gap, an overlap, a new instance
    without records,
    or seqs that are not consecutive). With one writer per instance this means a bug or a second
    process driving the same instance."""


class NotOwner(StoreError):
    """An append's instance is owned by another process now: that one claimed it after this
    store's lease ran out (the process was paused, say, or cut off from the database).
    Nothing of the append was written, and what this process holds of the instance is stale:
    it must stop driving it. Only a store that several processes share refuses so.

    `owner` is the id of the process that owns the instance now.
    """

    http_status = 503  # another process drives it: asked again, it answers from there

    def __init__(self, instance_id: str, owner: str) -> None:
        super().__init__(f"instance {instance_id!r} is owned by {owner} now")
        self.instance_id = instance_id
        self.owner = owner


class MessageTaken(StoreError):
    """An append's ``correlated`` names an event that another instance of that workflow took
    already as a message: nothing of the append was written. Processes sharing a database
    may both hand one buffered message to a subscription at the same moment; the store lets
    one of them have it, and the other instance replays without it."""


class DuplicateEvent(StoreError):
    """An event with that `(source, id)` is stored already: a redelivery."""


class DuplicateEvents(StoreError):
    """Events of an `EventBatch` were stored already (redeliveries); the others are stored now.

    `indexes` are their places in the batch.
    """

    def __init__(self, indexes: tuple[int, ...]) -> None:
        super().__init__(f"events {list(indexes)} of the batch were received already")
        self.indexes = indexes


class Store(Protocol):
    """A durable home for journals, instance summaries and timers.

    `write` is called from one worker thread at a time (the journal writer's); every other
    method is called from the Trio thread and must be quick. Implementations must not let a
    reader see half of an append.
    """

    def write(self, appends: Sequence[Write]) -> builtins.list[StoreError | None]:
        """Commit `appends` in one transaction, each append atomic on its own.

        An `EventRow` whose `(source, id)` is stored already is refused with `DuplicateEvent`;
        an `EventBatch` is stored whole or not at all (its error in its slot), with
        `DuplicateEvents` when some of its events were stored already (the others are stored);
        `PurgeEvents` and `DeleteInstances` never fail on their own (their slot is None).

        A refused append (InstanceExists, UnknownInstance, SequenceConflict, ...) is rolled
        back alone and its error returned in its slot; the others commit. Appends are applied in
        order, so a later append in the group may continue an earlier one. Raises only when the
        transaction as a whole fails (disk full, I/O error): then nothing was committed.
        """
        ...

    def read(
        self, instance_id: str, from_seq: int = 1, to_seq: int | None = None
    ) -> builtins.list[StoredRecord]:
        """Records `from_seq..to_seq` (inclusive; None: to the end) ordered by seq."""
        ...

    def last_seq(self, instance_id: str) -> int:
        """The seq of the instance's last record; 0 for an unknown instance."""
        ...

    def last_of_kind(
        self, instance_id: str, kind: str, from_seq: int = 1, to_seq: int | None = None
    ) -> StoredRecord | None:
        """The instance's record of `kind` with the highest seq in `from_seq..to_seq`
        (inclusive; None: to the end), or None when there is none.

        It walks the journal's primary key backwards from `to_seq`: its cost is the number of
        records after the one it finds, the tail that a rehydration from that record replays
        anyway (a BPMN snapshot, ``runtime.bpmn``), and no index beside the key is kept for it.
        """
        ...

    def get(self, instance_id: str) -> InstanceRow | None:
        """The instance row, or None for an unknown instance."""
        ...

    def list(
        self,
        *,
        status: str | None = None,
        workflow: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
        id_prefix: str | None = None,
        order: str = "created",
    ) -> Page:
        """Instances, filtered, a page at a time: in creation order (`order="created"`), the
        least recently updated first (`"updated"`) or the most recently updated first
        (`"-updated"`). `id_prefix` keeps the ids that start with it (case matters).

        `limit` must be 1..500 and `cursor` one this store returned for that order, else
        ValueError.
        """
        ...

    def finished(
        self,
        *,
        before: float,
        limit: int,
        workflow: str | None = None,
        exclude: Collection[str] = (),
        after: tuple[float, str] | None = None,
    ) -> builtins.list[InstanceRow]:
        """Finished instances (status in TERMINAL) last updated before `before`, the least
        recently updated first (ties by id), at most `limit` (1..500, else ValueError): what
        retention deletes next. Of `workflow` only when given; none of the workflows in
        `exclude`; `after` continues past the ``(updated_at, id)`` of a previous page's last
        row. It must be quick at any size: an index on ``(updated_at, id)`` of the finished."""
        ...

    def expired_events(self, *, before: float, buffered_at: float, limit: int) -> int:
        """How many events ``PurgeEvents(before=before, buffered_at=buffered_at)`` would
        delete, counting at most `limit` (so that it stays quick)."""
        ...

    def unfinished(self) -> builtins.list[str]:
        """Ids of unfinished instances (`running`, `waiting`, `incident`), in creation order."""
        ...

    def timers(self) -> builtins.list[TimerRow]:
        """Every timer row, ordered by fire_at."""
        ...

    def waits_for(self, type: str, subject: str | None) -> builtins.list[WaitRow]:
        """Waits for events of `type` whose subject is None or `subject`."""
        ...

    def waits_of(self, instance_id: str) -> builtins.list[WaitRow]:
        """The event waits of one instance."""
        ...

    def events_for(
        self, type: str, subject: str | None, instance_id: str, since: float
    ) -> builtins.list[EventRow]:
        """Stored events a new wait may take, in arrival order: of `type`, received at or after
        `since`, and either targeting `instance_id` or untargeted with a matching subject (any
        subject when `subject` is None)."""
        ...

    def messages_for(
        self, type: str, subject: str | None, workflow: str, now: float
    ) -> builtins.list[EventRow]:
        """Untargeted events a new message subscription of `workflow` may take, in arrival
        order: of `type` and `subject`, buffered (``expires_at`` at or after `now`) and not yet
        taken by an instance of `workflow`."""
        ...

    def is_correlated(self, source: str, id: str, workflow: str) -> bool:
        """Whether an instance of `workflow` took the event `(source, id)` as a message."""
        ...

    def has_event(self, source: str, id: str) -> bool:
        """Whether the event `(source, id)` is stored (within the retention period)."""
        ...

    def counts_by_status(
        self, *, workflow: str | None = None, id_prefix: str | None = None
    ) -> dict[str, int]:
        """How many instances are in each status (for metrics), of one workflow and with ids
        starting with `id_prefix` when those are given. Statuses with none are left out."""
        ...

    def close(self) -> None:
        """Release the database. Idempotent."""
        ...


@runtime_checkable
class SharedStore(Store, Protocol):
    """A `Store` that several processes write at once (`PostgresStore`), each instance
    driven by one of them, its *owner* (see `_postgres_owners`).

    A process drives only the instances it owns: the ones it created, and the ones it
    claimed. An append for an instance another process took from it is refused with
    `NotOwner`. The claims block on the database: they are called from a worker thread.
    """

    owner: str | None
    """This store's owner id; None when it writes nothing (read-only)."""
    lease: float
    """Seconds after its last renewal when this store's instances may be claimed."""

    def claim(self, instance_id: str) -> Owner | None:
        """Make `instance_id` this store's unless another live process owns it: None when
        this store owns it now (or there is no such instance), else that owner."""
        ...

    def claim_orphans(self, limit: int = 500) -> builtins.list[str]:
        """Make at most `limit` orphans this store's (unfinished, not suspended instances
        whose owner released them or let its lease run out); their ids, oldest first."""
        ...

    def owner_of(self, instance_id: str) -> Owner | None:
        """The process that owns `instance_id`; None when nobody does (or no such instance)."""
        ...

    def owners(self) -> builtins.list[Owner]:
        """Every process registered on the database, the oldest first."""
        ...

    def release(self) -> None:
        """Let go of this store's unfinished instances, for others to claim at once."""
        ...
