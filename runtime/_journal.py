"""The journal writer: one task commits every actor's appends, many per transaction.

Theory of operation. `append` puts the append into the open batch and waits on that batch's
event. `run` takes the oldest batch, commits it with `Store.write` in a worker thread, stores
the per-append results on the batch and sets its event: every waiter wakes at once and reads
its own slot. While that commit runs, new appends fill the next batch, so the busier the
system, the larger the batches (group commit) and the fewer the fsyncs per append.

An append is acknowledged only after the transaction holding it committed. Cancelling a task
that waits in `append` does not withdraw the append: it is committed with its batch, the task
just does not hear about it (the journal, read on recovery, tells the truth).
"""

from __future__ import annotations

import time
from collections import deque

import attrs
import trio
import trio.testing

from ._store import Store, StoreError, Write


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
    """Transactions that failed as a whole (every append in them got the error)."""


@attrs.define(eq=False)
class _Batch:
    appends: list[Write] = attrs.Factory(list)
    results: list[StoreError | None] = attrs.Factory(list)
    done: trio.Event = attrs.Factory(trio.Event)


def _positive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.alias} must be >= 1, got {value}")


@attrs.define(eq=False)
class JournalWriter:
    """Owns writing to `store`: start `run` in a nursery, then `append` from any task.

    At most `max_queue` appends wait for their commit at once (more raise `JournalFull`); at
    most `max_batch` go into one transaction.
    """

    _store: Store
    _max_queue: int = attrs.field(default=50_000, kw_only=True, validator=_positive)
    _max_batch: int = attrs.field(default=2_000, kw_only=True, validator=_positive)
    _batches: deque[_Batch] = attrs.field(init=False, factory=deque)
    _work: trio.Event = attrs.field(init=False, factory=trio.Event)
    _queued: int = attrs.field(init=False, default=0)
    _closed: bool = attrs.field(init=False, default=False)
    _started: bool = attrs.field(init=False, default=False)
    _inline: bool = attrs.field(init=False, default=False)
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

    async def append(self, append: Write) -> None:
        """Write `append`; return once the transaction holding it committed.

        Raises the append's own `StoreError` if the store refused it (or the whole transaction
        failed), `JournalFull` when `max_queue` appends are already waiting, `JournalClosed`
        after `close`.
        """
        if self._closed:
            await trio.lowlevel.checkpoint()
            raise JournalClosed("the journal writer is closed")
        if self._queued >= self._max_queue:
            await trio.lowlevel.checkpoint()
            raise JournalFull(f"the journal queue is full ({self._max_queue} appends waiting)")
        batches = self._batches
        if not batches or len(batches[-1].appends) >= self._max_batch:
            batches.append(_Batch())
        batch = batches[-1]
        index = len(batch.appends)
        batch.appends.append(append)
        self._queued += 1
        self._work.set()
        await batch.done.wait()
        error = batch.results[index]
        if error is not None:
            raise error

    def close(self) -> None:
        """Stop accepting appends; `run` commits what is queued, then returns. Idempotent."""
        self._closed = True
        self._work.set()

    async def run(
        self, *, task_status: trio.TaskStatus[JournalWriter] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Commit batches until closed or cancelled; either way, commit what is queued first."""
        if self._started:
            raise RuntimeError("JournalWriter.run() can only be called once")
        self._started = True
        # A private thread limiter: sync activities filling the default one must not stall commits.
        limiter = trio.CapacityLimiter(1)
        # Under a MockClock, a commit in a worker thread looks like every task is blocked and
        # the clock would jump ahead of the I/O; committing inline keeps virtual time honest.
        self._inline = isinstance(trio.lowlevel.current_clock(), trio.testing.MockClock)
        task_status.started(self)
        try:
            while True:
                while not self._batches:
                    if self._closed:
                        return
                    self._work = trio.Event()
                    await self._work.wait()
                await self._commit(self._batches.popleft(), limiter)
        finally:
            self._closed = True
            while self._batches:
                await self._commit(self._batches.popleft(), limiter)

    async def _commit(self, batch: _Batch, limiter: trio.CapacityLimiter) -> None:
        count = len(batch.appends)
        results: list[StoreError | None] | None = None
        failed = False
        began = time.perf_counter()
        try:
            # Shielded: a commit that started must finish and be acknowledged, cancelled or not.
            with trio.CancelScope(shield=True):
                if self._inline:
                    written = self._store.write(batch.appends)
                    await trio.lowlevel.checkpoint()
                else:
                    written = await trio.to_thread.run_sync(
                        self._store.write, batch.appends, limiter=limiter
                    )
            if len(written) != count:
                raise StoreError(f"store.write returned {len(written)} results for {count} appends")
            results = written
        except Exception as exc:
            failed = True
            results = [_write_failed(exc) for _ in range(count)]
        finally:
            if results is None:  # a BaseException is escaping: still wake every waiter
                failed = True
                results = [
                    StoreError("the journal writer stopped during the commit") for _ in range(count)
                ]
            stats = self._stats
            self._stats = JournalStats(
                batches=stats.batches + 1,
                appends=stats.appends + count,
                last_batch_size=count,
                commit_seconds=stats.commit_seconds + (time.perf_counter() - began),
                failed_batches=stats.failed_batches + int(failed),
            )
            batch.results = results
            self._queued -= count
            batch.done.set()


def _write_failed(exc: Exception) -> StoreError:
    error = StoreError(f"the journal transaction failed: {exc!r}")
    error.__cause__ = exc
    return error
