"""The journal writer: one task commits every actor's appends, many per transaction.

Theory of operation. `append` puts the append into the open batch and waits on that batch's
event. `run` takes the oldest batch, commits it with `Store.write` in a worker thread, stores
the per-append results on the batch and sets its event: every waiter wakes at once and reads
its own slot. While that commit runs, new appends fill the next batch, so the busier the
system, the larger the batches (group commit) and the fewer the fsyncs per append.

An append is acknowledged only after the transaction holding it committed. Cancelling a task
that waits in `append` does not withdraw the append: it is committed with its batch, the task
just does not hear about it (the journal, read on recovery, tells the truth).

When the store fails a transaction as a whole (disk full, I/O error, database busy), nothing of
it was committed and the writer is *failing*: it keeps the batch and writes it again after a
backoff (50 ms, doubling up to 5 s) until a commit succeeds, so an append that waits is never
lost nor answered with an error, and its instance is `blocked` meanwhile. Appends made with
`fail_fast` (new work: a start, a published event) are not kept: they get `StorageUnavailable`
at once, from their batch's first failed attempt or, while the writer is failing, before they
are queued. One of them is let through when a retry is due, so that new work finds out that
the store took writes again even when nothing else is waiting.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import cast

import attrs
import trio

from ._errors import StorageUnavailable
from .store import Append, Store, StoreError, Write

_log = logging.getLogger("trioflow")

FIRST_RETRY = 0.05
"""Seconds before the first retry of a failed transaction; each further retry waits twice as
long, up to `LAST_RETRY`."""
LAST_RETRY = 5.0

Notify = Callable[[StorageUnavailable], None]


class JournalFull(Exception):
    """Too many appends are waiting to be committed: try again later.

    Full is backpressure and passes; Closed (`JournalClosed`) is final.
    """

    http_status = 503


class JournalClosed(Exception):
    """The journal writer was closed (or its `run` ended) and accepts no more appends."""

    http_status = 503


@attrs.frozen(kw_only=True)
class JournalStats:
    """Counters since the writer was made, for metrics."""

    batches: int
    """Transactions committed (or attempted: see `failed_batches`)."""
    appends: int
    """Appends written in those transactions, refused ones included."""
    last_batch_size: int
    commit_seconds: float
    """Total time spent in `Store.write`."""
    failed_batches: int
    """Transactions that failed as a whole (their appends were kept and written again, or,
    made with `fail_fast`, refused)."""


@attrs.frozen(kw_only=True)
class Blocked:
    """Why an instance waits for the store, and since when (epoch seconds)."""

    reason: str
    since: float


@attrs.define(eq=False)
class _Batch:
    appends: list[Write] = attrs.Factory(list)
    results: list[Exception | None] = attrs.Factory(list)
    done: trio.Event = attrs.Factory(trio.Event)
    """Set once every append of the batch has its outcome."""
    tried: trio.Event = attrs.Factory(trio.Event)
    """Set once the `fail_fast` appends have theirs (committed, or refused)."""
    sealed: bool = False
    """Takes no more appends: it is being written, or its `tried` is set."""
    fast: list[int] | None = None
    withdrawn: set[int] | None = None
    """Slots answered already (refused `fail_fast` appends): not written again."""
    notify: dict[int, Notify] | None = None


def _positive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.alias} must be >= 1, got {value}")


@attrs.define(eq=False)
class JournalWriter:
    """Owns writing to `store`: start `run` in a nursery, then `append` from any task.

    At most `max_queue` appends wait for their commit at once (more raise `JournalFull`;
    `wait_for_room` waits until one may go in); at most `max_batch` go into one transaction.
    `now` gives the epoch seconds of `Blocked.since`. `commit_inline` commits in `run`'s own
    task instead of a worker thread: for virtual time (Trio's `MockClock` with autojump),
    where a commit in a thread looks like every task is idle and the clock would jump ahead
    of the I/O. It blocks the event loop for each commit, so it is for tests only.
    """

    _store: Store
    _max_queue: int = attrs.field(default=50_000, kw_only=True, validator=_positive)
    _max_batch: int = attrs.field(default=2_000, kw_only=True, validator=_positive)
    _now: Callable[[], float] = attrs.field(default=time.time, kw_only=True)
    _commit_inline: bool = attrs.field(default=False, kw_only=True)
    _batches: deque[_Batch] = attrs.field(init=False, factory=deque)
    _work: trio.Event = attrs.field(init=False, factory=trio.Event)
    _nudge: trio.Event = attrs.field(init=False, factory=trio.Event)
    _queued: int = attrs.field(init=False, default=0)
    _closed: bool = attrs.field(init=False, default=False)
    _started: bool = attrs.field(init=False, default=False)
    _room: trio.Event = attrs.field(init=False, factory=trio.Event)
    _failure: str | None = attrs.field(init=False, default=None)
    _failing_since: float = attrs.field(init=False, default=0.0)
    _delay: float = attrs.field(init=False, default=0.0)
    _retry_at: float = attrs.field(init=False, default=0.0)
    _blocked: dict[str, Blocked] = attrs.field(init=False, factory=dict)
    _stats: JournalStats = attrs.field(
        init=False,
        factory=lambda: JournalStats(
            batches=0, appends=0, last_batch_size=0, commit_seconds=0.0, failed_batches=0
        ),
    )

    @property
    def queued(self) -> int:
        """Appends accepted and not yet acknowledged (waiting or being committed)."""
        return self._queued

    @property
    def stats(self) -> JournalStats:
        return self._stats

    @property
    def failure(self) -> str | None:
        """Why the store fails every transaction, while it does; None once one committed."""
        return self._failure

    @property
    def blocked(self) -> Mapping[str, Blocked]:
        """Instances whose appends wait for the store to take writes again."""
        return self._blocked

    def unavailable(self) -> StorageUnavailable | None:
        """The error new work gets now, or None if it may go ahead (a retry is due)."""
        if self._failure is None:
            return None
        wait = self._retry_at - trio.current_time()
        if wait <= 0:
            return None
        return StorageUnavailable(
            f"the database takes no writes now ({self._failure}); nothing was stored,"
            " try again later",
            retry_after=max(1.0, float(math.ceil(wait))),
        )

    async def append(
        self, append: Write, *, fail_fast: bool = False, on_blocked: Notify | None = None
    ) -> None:
        """Write `append`; return once the transaction holding it committed.

        Raises the append's own `StoreError` if the store refused it, `JournalFull` when
        `max_queue` appends are already waiting, `JournalClosed` after `close`. A transaction
        that fails as a whole is written again until it commits (see the module docstring);
        meanwhile `on_blocked` is called once. With `fail_fast` the append is instead refused
        with `StorageUnavailable`, and nothing of it is stored.
        """
        if self._closed:
            await trio.lowlevel.checkpoint()
            raise JournalClosed("the journal writer is closed")
        if self._queued >= self._max_queue:
            await trio.lowlevel.checkpoint()
            raise JournalFull(f"the journal queue is full ({self._max_queue} appends waiting)")
        if self._failure is not None:
            if fail_fast and (refusal := self.unavailable()) is not None:
                await trio.lowlevel.checkpoint()
                raise refusal
            if not fail_fast:
                if isinstance(append, Append):
                    self._block(append.instance_id)
                if on_blocked is not None:
                    on_blocked(self._kept(self._failure))
                    on_blocked = None
        batches = self._batches
        if not batches or batches[-1].sealed or len(batches[-1].appends) >= self._max_batch:
            batches.append(_Batch())
        batch = batches[-1]
        index = len(batch.appends)
        batch.appends.append(append)
        if on_blocked is not None:
            if batch.notify is None:
                batch.notify = {}
            batch.notify[index] = on_blocked
        self._queued += 1
        self._work.set()
        if fail_fast:
            if batch.fast is None:
                batch.fast = []
            batch.fast.append(index)
            await batch.tried.wait()
        else:
            await batch.done.wait()
        error = batch.results[index]
        if error is not None:
            raise error

    async def wait_for_room(self) -> None:
        """Return once fewer than `max_queue` appends wait (or the writer is closed, so that
        the next `append` raises `JournalClosed`)."""
        while self._queued >= self._max_queue and not self._closed:
            if self._room.is_set():
                self._room = trio.Event()
            await self._room.wait()
        await trio.lowlevel.checkpoint()

    def close(self) -> None:
        """Stop accepting appends; `run` commits what is queued, then returns. Idempotent.

        A store that is failing gets one more attempt for what is queued; appends that still
        do not commit then fail with `StoreError`.
        """
        self._closed = True
        self._work.set()
        self._nudge.set()
        self._room.set()

    def retry_now(self) -> None:
        """Write a failing transaction again now instead of after its backoff."""
        if self._failure is not None:
            self._retry_at = trio.current_time()
            self._nudge.set()

    async def run(
        self, *, task_status: trio.TaskStatus[JournalWriter] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Commit batches until closed or cancelled; either way, commit what is queued first."""
        if self._started:
            raise RuntimeError("JournalWriter.run() can only be called once")
        self._started = True
        # A private thread limiter: sync activities filling the default one must not stall commits.
        limiter = trio.CapacityLimiter(1)
        task_status.started(self)
        try:
            while True:
                while not self._batches:
                    if self._closed:
                        return
                    self._work = trio.Event()
                    await self._work.wait()
                if self._failure is not None:
                    await self._backoff()
                    if self._closed:
                        return
                batch = self._batches.popleft()
                batch.sealed = True
                await self._commit(batch, limiter, keep=True)
        finally:
            self._closed = True
            while self._batches:
                batch = self._batches.popleft()
                batch.sealed = True
                await self._commit(batch, limiter, keep=False)

    async def _backoff(self) -> None:
        """Wait until the next retry is due (or `retry_now`, or `close`)."""
        self._nudge = trio.Event()
        with trio.move_on_at(self._retry_at):
            await self._nudge.wait()

    async def _commit(self, batch: _Batch, limiter: trio.CapacityLimiter, *, keep: bool) -> None:
        """Write `batch`. If the transaction fails, `keep` puts the batch back at the head of
        the queue for a retry; without `keep` its appends fail with `StoreError`."""
        withdrawn = batch.withdrawn
        appends = (
            batch.appends
            if withdrawn is None
            else [a for i, a in enumerate(batch.appends) if i not in withdrawn]
        )
        count = len(appends)
        written: list[StoreError | None] | None = None
        error: Exception | None = None
        began = time.perf_counter()
        try:
            # Shielded: a commit that started must finish and be acknowledged, cancelled or not.
            with trio.CancelScope(shield=True):
                if self._commit_inline:
                    written = self._store.write(appends)
                    await trio.lowlevel.checkpoint()
                else:
                    written = await trio.to_thread.run_sync(
                        self._store.write, appends, limiter=limiter
                    )
            assert written is not None  # the shielded scope swallows nothing
            if len(written) != count:
                error = StoreError(
                    f"store.write returned {len(written)} results for {count} appends"
                )
                written = None
                keep = False  # the store broke its contract: do not write it again
        except Exception as exc:
            error = exc
        finally:
            stats = self._stats
            self._stats = JournalStats(
                batches=stats.batches + 1,
                appends=stats.appends + count,
                last_batch_size=count,
                commit_seconds=stats.commit_seconds + (time.perf_counter() - began),
                failed_batches=stats.failed_batches + int(written is None),
            )
            if written is None and error is None:  # a BaseException is escaping
                self._settle(
                    batch, None, StoreError("the journal writer stopped during the commit")
                )
        if written is not None:
            self._settle(batch, written)
        elif not keep:
            self._settle(batch, None, error)
        else:
            assert error is not None
            self._batches.appendleft(batch)
            self._failed(error)

    def _settle(
        self,
        batch: _Batch,
        written: list[StoreError | None] | None,
        error: Exception | None = None,
    ) -> None:
        """Give every append of `batch` that waits its outcome: `written`, or `error`."""
        withdrawn = batch.withdrawn
        if withdrawn is None and written is not None:
            batch.results = cast("list[Exception | None]", written)
        else:
            results = batch.results or [None] * len(batch.appends)
            outcomes = iter(written or ())
            for index in range(len(batch.appends)):
                if withdrawn is not None and index in withdrawn:
                    continue
                results[index] = next(outcomes) if written is not None else _write_failed(error)
            batch.results = results
        self._queued -= len(batch.appends) - (0 if withdrawn is None else len(withdrawn))
        self._room.set()
        if written is not None and self._failure is not None:
            self._recovered()
        if self._blocked:
            for append in batch.appends:
                if isinstance(append, Append):
                    self._blocked.pop(append.instance_id, None)
        batch.tried.set()
        batch.done.set()

    def _failed(self, exc: Exception) -> None:
        """A transaction failed as a whole: refuse what may not wait, block the rest."""
        reason = str(exc) or type(exc).__name__
        if self._failure is None:
            _log.error("the database takes no writes (%s); retrying", reason, exc_info=exc)
            self._failing_since = self._now()
            self._delay = FIRST_RETRY
        elif reason != self._failure:
            _log.error("the database still takes no writes (%s); retrying", reason)
        self._failure = reason
        self._retry_at = trio.current_time() + self._delay
        self._delay = min(self._delay * 2, LAST_RETRY)
        refusal = StorageUnavailable(
            f"the database takes no writes now ({reason}); nothing was stored, try again later",
            retry_after=max(1.0, float(math.ceil(self._retry_at - trio.current_time()))),
        )
        waiting = self._kept(reason)
        for batch in self._batches:
            self._sweep(batch, refusal, waiting)
        if any(
            b.withdrawn is not None and len(b.withdrawn) == len(b.appends) for b in self._batches
        ):
            # Batches of refused appends only: nothing is left to write.
            kept = [b for b in self._batches if not b.done.is_set()]
            self._batches.clear()
            self._batches.extend(kept)

    def _kept(self, reason: str) -> StorageUnavailable:
        return StorageUnavailable(
            f"the database takes no writes now ({reason}); what was asked is kept and"
            " takes effect once it does",
            retry_after=max(1.0, float(math.ceil(self._retry_at - trio.current_time()))),
        )

    def _sweep(
        self, batch: _Batch, refusal: StorageUnavailable, waiting: StorageUnavailable
    ) -> None:
        if batch.fast:
            if batch.withdrawn is None:
                batch.withdrawn = set()
            if not batch.results:
                batch.results = [None] * len(batch.appends)
            for index in batch.fast:
                batch.results[index] = refusal
                batch.withdrawn.add(index)
                self._queued -= 1
            batch.fast = None
            self._room.set()
            batch.sealed = True
            batch.tried.set()
            if len(batch.withdrawn) == len(batch.appends):
                batch.done.set()
        for index, append in enumerate(batch.appends):
            if isinstance(append, Append) and (
                batch.withdrawn is None or index not in batch.withdrawn
            ):
                self._block(append.instance_id)
        if batch.notify:
            for index, notify in batch.notify.items():
                if batch.withdrawn is None or index not in batch.withdrawn:
                    notify(waiting)
            batch.notify = None

    def _block(self, instance_id: str) -> None:
        if instance_id not in self._blocked:
            assert self._failure is not None
            self._blocked[instance_id] = Blocked(reason=self._failure, since=self._failing_since)

    def _recovered(self) -> None:
        _log.warning(
            "the database takes writes again after %.1f s", self._now() - self._failing_since
        )
        self._failure = None
        self._delay = 0.0


def _write_failed(exc: Exception | None) -> StoreError:
    error = StoreError(f"the journal transaction failed: {exc!r}")
    error.__cause__ = exc
    return error
