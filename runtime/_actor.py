"""The workflow actor: the I/O shell around one instance's ``WorkflowCore``.

For each message it asks the core what to do, appends the input record and the
decided outputs to the journal, waits until they are committed, and only then
carries the commands out (run an activity, start a timer, report the outcome).
Its state lives in the journal: starting the actor (spawn, restart after a failure,
rehydration after passivation, recovery after a crash) replays it.

On a store that several processes share, an actor drives its instance only if this process
owns it: starting, it claims the instance (`Services.take`), and leaves it alone when another
live process owns it. An append refused with `NotOwner` (another process took the instance
while this one was paused past its lease) ends the actor at once: nothing it holds is
written, and the log names the instance and the process that drives it now.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable

import attrs

from . import _records as r
from ._convert import dumps, loads
from ._core import WorkflowCore, summary_of
from ._decision import Decision
from ._errors import (
    InstanceConflict,
    InstanceFinished,
    Overloaded,
    StorageUnavailable,
    TrioflowError,
    WorkflowNotFound,
)
from ._event import is_signal
from ._journal import JournalFull, Notify
from ._messages import Deliver, Message, Start, Wake
from ._replay import in_slices, replay_stored
from ._runs import next_start
from ._services import Services
from .store import (
    TERMINAL,
    Append,
    EventRow,
    InstanceExists,
    NewInstance,
    NewRun,
    NotOwner,
    StoredRecord,
    Summary,
    TimerRow,
    WaitRow,
)

_log = logging.getLogger("trioflow")


@attrs.define(eq=False)
class WorkflowActor:
    _services: Services
    _id: str
    _core: WorkflowCore | None = None
    _workflow: str | None = None
    _status: str | None = None
    _last_seq: int = 0
    _created_at: float = 0.0
    _last_summary: Summary | None = None
    _resume_error: TrioflowError | NotOwner | None = None
    _elsewhere: str | None = None
    """The process that owns the instance, when it is not this one (a shared store)."""
    _since_snapshot: int = 0
    """Records journaled since the latest snapshot (or the run's start)."""

    # --- actors.Actor -------------------------------------------------------------

    async def start(self) -> None:
        try:
            await self._rehydrate()
        except NotOwner as exc:
            self._taken_over(exc)

    async def _rehydrate(self) -> None:
        services = self._services
        spawned_for = services.system.next_message(self._id)
        if isinstance(spawned_for, Start):
            return  # a new instance: there is no row to read yet
        resuming = isinstance(spawned_for, Wake) and spawned_for.resume
        row = services.store.get(self._id)
        if row is None:
            return
        self._workflow, self._status, self._last_seq = row.workflow, row.status, row.last_seq
        self._created_at = row.created_at
        claimed = services.just_claimed(self._id)
        if row.status in TERMINAL or (row.status == "suspended" and not resuming):
            services.instance_settled(self._id)  # in case a waiter missed the moment
            return
        held = await services.take(self._id, row)
        claimed = services.just_claimed(self._id) or claimed
        if held is not None:
            # Another live process drives it: messages for it are refused here.
            self._elsewhere = held.id
            if resuming:
                self._resume_error = NotOwner(self._id, held.id)
            services.system.stop(self._id)
            return
        try:
            # A slice of the journal at a time: a long one does not hold the event loop.
            core, divergence = await in_slices(
                replay_stored(services.registry, services.store, row)
            )
        except WorkflowNotFound:
            # Another deployment's workflow: leave its instance as it is for a process
            # that has the code, rather than marking it suspended.
            _log.warning(
                "instance %s runs unknown workflow %r; not driving it", self._id, row.workflow
            )
            return
        if divergence is not None:
            core.close()
            await self._suspend(divergence)
            return
        self._since_snapshot = row.last_seq - max(core.snapshot_seq, row.run_seq - 1)
        if resuming:
            # Before anything is re-armed: a resume the store cannot take leaves it suspended.
            try:
                await self._write((), summary_of(core, services.clock.now()), fail_fast=True)
            except (StorageUnavailable, Overloaded) as exc:
                core.close()
                self._resume_error = exc
                return
        self._core = core
        # Re-arm what is in flight. A timer whose firing was lost (its append failed, or it
        # fired while the instance was suspended) fires again; a pending one is not doubled,
        # and an attempt the executor still runs is not started twice.
        in_flight = core.in_flight()
        self._arm(in_flight.activities, in_flight.timers)
        # An event may have been stored but not delivered before a crash or while suspended.
        await self._take_stored_events(core, in_flight.waits)
        if claimed and any(is_signal(w.type) or w.message for w in in_flight.waits):
            await self._take_missed(core)

    async def handle(self, message: Message) -> None:
        try:
            await self._handle(message)
        except NotOwner as exc:
            self._taken_over(exc)

    async def _handle(self, message: Message) -> None:
        if isinstance(message, Wake):
            if message.reply is not None:
                if self._resume_error is not None:
                    message.reply.fail(self._resume_error)
                    self._resume_error = None
                message.reply.set(self._status)
        elif isinstance(message, Start):
            await self._start(message)
        elif isinstance(message, Deliver):
            await self._deliver(message)

    @property
    def running(self) -> bool:
        """Started (its start committed) and not finished: its settling is still to come."""
        return self._core is not None and not self._core.finished

    def can_passivate(self) -> bool:
        core = self._core
        return core is None or core.finished or core.idle

    def stopped(self) -> None:
        if self._core is not None:
            self._core.close()
            self._core = None

    # --- messages -------------------------------------------------------------------

    async def _start(self, message: Start) -> None:
        record = message.record
        if self._workflow is not None:
            if self._workflow != record.workflow:
                message.reply.fail(
                    InstanceConflict(
                        f"instance {self._id!r} exists already and runs workflow "
                        f"{self._workflow!r}, not {record.workflow!r}"
                    )
                )
            else:
                message.reply.set(False)
            return
        services = self._services
        core = WorkflowCore(
            services.registry.workflow(record.workflow, record.version),
            self._id,
            services.registry.activity,
        )
        at = services.clock.now()
        decision = core.decide(record, at)
        assert decision.taken
        new = NewInstance(workflow=record.workflow, input=message.input_text, created_at=at)
        try:
            core, decision = await self._commit(core, record, decision, at, new=new, fail_fast=True)
        except (StorageUnavailable, Overloaded) as exc:
            # Nothing was stored: the instance does not exist, and this actor holds nothing.
            message.reply.fail(exc)
            core.close()
            self._services.system.stop(self._id)
            return
        except InstanceExists:
            message.reply.fail(InstanceConflict(f"instance {self._id!r} exists already"))
            raise
        except BaseException as exc:
            message.reply.fail(exc)
            raise
        self._core, self._workflow, self._created_at = core, record.workflow, at
        message.reply.set(True)
        self._carry_out(decision)
        await self._take_stored_events(core, decision.waits_set)

    async def _deliver(self, message: Deliver) -> None:
        core = self._core
        if core is None or core.finished:
            if message.reply is not None:
                if core is not None and self._has_taken(core, message.record):
                    message.reply.set(True)
                else:
                    message.reply.fail(self._not_running())
            return
        key = self._message_key(core, message.record)
        if key is not None and not self._services.claim(key):
            # Another instance of this workflow took (or is taking) this message.
            if message.reply is not None:
                message.reply.set(self._has_taken(core, message.record))
            return
        try:
            await self._take(core, message, key)
        finally:
            if key is not None:
                self._services.release(key)

    async def _take(
        self, core: WorkflowCore, message: Deliver, key: tuple[str, str, str] | None
    ) -> None:
        at = self._services.clock.now()
        decision = core.decide(message.record, at)
        if not decision.taken:
            if message.reply is not None:
                if decision.refused is not None:
                    message.reply.fail(decision.refused)
                else:
                    message.reply.set(self._has_taken(core, message.record))
            return
        # While the store takes no writes the record waits in the journal writer (the instance
        # is blocked); whoever waits for the answer hears so instead of waiting with it.
        on_blocked = None if message.reply is None else message.reply.fail
        correlated = () if key is None else (key,)
        try:
            core, decision = await self._commit(
                core, message.record, decision, at, on_blocked=on_blocked, correlated=correlated
            )
        except BaseException as exc:
            if message.reply is not None:
                message.reply.fail(exc)
            raise  # the core ran ahead of the journal: restart replays it
        if message.reply is not None:
            message.reply.set(True)
        self._carry_out(decision)
        await self._take_stored_events(core, decision.waits_set)

    async def _take_stored_events(self, core: WorkflowCore, new: tuple[WaitRow, ...]) -> None:
        """A new wait first takes a matching event that arrived before it (not yet consumed);
        a message subscription takes only an untargeted event buffered with a ``ttl`` that no
        instance of its workflow took."""
        waits = list(new)
        while waits and not core.finished:
            wait = waits.pop(0)
            for row in self._stored_for(core, wait):
                if (row.source, row.id) in core.consumed:
                    continue
                ended = core
                taken = await self._offer_stored(core, wait.step, row.event)
                if taken is None:
                    continue
                core, decision = taken
                if core is not ended:  # it continued as new: the old run's waits are gone
                    waits = []
                waits += decision.waits_set
                break

    async def _offer_stored(
        self, core: WorkflowCore, step: int, event: str
    ) -> tuple[WorkflowCore, Decision] | None:
        """Offer the stored `event` (JSON text) to wait `step`: the instance and decision after
        it took the event, carried out; None where it was not taken (not a match, or a message
        another instance of its workflow holds or took)."""
        record = r.EventReceived(step=step, event=loads(event))
        key = self._message_key(core, record)
        if key is not None and not self._services.claim(key):
            return None
        try:
            at = self._services.clock.now()
            decision = core.decide(record, at)
            if not decision.taken:
                return None
            correlated = () if key is None else (key,)
            taken = await self._commit(core, record, decision, at, correlated=correlated)
        finally:
            if key is not None:
                self._services.release(key)
        self._carry_out(taken[1])
        return taken

    async def _take_missed(self, core: WorkflowCore) -> None:
        """Claimed from a process that died or let go: take the signals and messages it may
        not have delivered (`Peers.missed`). One it did deliver was consumed, and is refused
        as a repeat (``WorkflowCore`` counts an event once, by source and id)."""
        for step, row in self._services.peers.missed(self._id):
            if core.finished or self._core is not core:
                return
            ended = core
            taken = await self._offer_stored(core, step, row.event)
            if taken is None:
                continue
            core, decision = taken
            await self._take_stored_events(core, decision.waits_set)
            if core is not ended:  # it continued as new: the steps read are the old run's
                return

    def _stored_for(self, core: WorkflowCore, wait: WaitRow) -> list[EventRow]:
        if is_signal(wait.type):
            return []  # a signal reaches only the waits open when it is broadcast
        store = self._services.store
        rows = store.events_for(wait.type, wait.subject, self._id, self._created_at)
        if wait.message is None:
            return rows
        targeted = [row for row in rows if row.instanceid is not None]
        now = self._services.clock.now()
        workflow = core.definition.name
        return targeted + store.messages_for(wait.type, wait.subject, workflow, now)

    def _message_key(self, core: WorkflowCore, record: r.Input) -> tuple[str, str, str] | None:
        """``(source, id, workflow)`` when ``record`` hands an untargeted event to a message
        subscription: no other instance of the workflow may take that event then."""
        if not isinstance(record, r.EventReceived) or not core.is_message_wait(record.step):
            return None
        event = record.event
        if not isinstance(event, dict) or event.get("instanceid") is not None:
            return None
        source, id_ = event.get("source"), event.get("id")
        if not isinstance(source, str) or not isinstance(id_, str):
            return None
        return (source, id_, core.definition.name)

    @staticmethod
    def _has_taken(core: WorkflowCore, record: r.Input) -> bool:
        """An event delivered twice (by its publisher, and from the store when the instance
        started) counts as delivered once."""
        if not isinstance(record, r.EventReceived) or not isinstance(record.event, dict):
            return False
        return (record.event.get("source"), record.event.get("id")) in core.consumed

    def _taken_over(self, exc: NotOwner) -> None:
        """Another process took the instance (this one was paused or cut off past its
        lease): drive it no more, keep nothing of it."""
        _log.warning(
            "instance %s was taken over by %s while this process could not renew its lease;"
            " this process drives it no more",
            self._id,
            exc.owner,
        )
        self._elsewhere = exc.owner
        if self._core is not None:
            self._core.close()
            self._core = None
        self._services.system.stop(self._id)
        self._services.instance_settled(self._id)  # its waiters read its row from now on

    def _not_running(self) -> TrioflowError | NotOwner:
        if self._elsewhere is not None:
            return NotOwner(self._id, self._elsewhere)
        if self._status in TERMINAL or (self._core is not None and self._core.finished):
            return InstanceFinished(f"instance {self._id!r} has finished")
        return InstanceFinished(f"instance {self._id!r} is {self._status}")

    # --- journal ----------------------------------------------------------------------

    async def _commit(
        self,
        core: WorkflowCore,
        record: r.Input,
        decision: Decision,
        at: float,
        *,
        new: NewInstance | None = None,
        fail_fast: bool = False,
        on_blocked: Notify | None = None,
        correlated: tuple[tuple[str, str, str], ...] = (),
    ) -> tuple[WorkflowCore, Decision]:
        """Journal ``record`` and what ``core`` decided for it, in one append; return the core
        and the decision to carry out: the next run's when this run continued as new (the
        same append then begins it, and the old run's timer and wait rows go)."""
        records: list[r.Record] = [record, *decision.outputs]
        run: NewRun | None = None
        if core.continued is not None:
            core, start, decision = self._next_run(core, at)
            run = NewRun(run=start.run, seq=self._last_seq + len(records) + 1)
            records += [start, *decision.outputs]
            self._since_snapshot = -(run.seq - self._last_seq - 1)  # count the new run's only
        snapshot = self._snapshot(core, len(records))
        if snapshot is not None:
            records.append(snapshot)
        seq = self._last_seq
        stored = []
        for rec in records:
            seq += 1
            kind, version, data = r.encode(rec)
            stored.append(StoredRecord(seq=seq, kind=kind, version=version, at=at, data=data))
        assert decision.summary is not None
        await self._write(
            tuple(stored),
            decision.summary,
            new=new,
            timers_set=decision.timers_set,
            timers_cleared=decision.timers_cleared if run is None else (),
            waits_set=decision.waits_set,
            waits_cleared=decision.waits_cleared if run is None else (),
            correlated=correlated,
            fail_fast=fail_fast,
            on_blocked=on_blocked,
            run=run,
        )
        self._since_snapshot = 0 if snapshot is not None else self._since_snapshot + len(records)
        if run is not None and self._core is not None and self._core is not core:
            self._core.close()
            self._core = core
        return core, decision

    def _snapshot(self, core: WorkflowCore, adding: int) -> r.Snapshot | None:
        """A snapshot to journal after ``adding`` more records, when one is due and the
        instance's state can be captured now (else it is tried again at the next append)."""
        every = core.definition.snapshot_every
        if not every or self._since_snapshot + adding < every or core.finished:
            return None
        state = core.capture()
        return None if state is None else r.Snapshot(state=state)

    def _next_run(
        self, ended: WorkflowCore, at: float
    ) -> tuple[WorkflowCore, r.WorkflowStarted, Decision]:
        """The core of the run that ``ended`` continued as, its start and first decision."""
        assert ended.continued is not None
        store = self._services.store
        start = next_start(
            ended.definition,
            ended.continued,
            first_step=ended.next_step,
            seed=random.getrandbits(63),
            # Events purged since cannot be taken again: forgetting them bounds the list.
            consumed=[key for key in ended.consumed if store.has_event(*key)],
        )
        core = WorkflowCore(ended.definition, self._id, self._services.registry.activity)
        decision = core.decide(start, at)
        assert decision.taken
        return core, start, decision

    async def _write(
        self,
        records: tuple[StoredRecord, ...],
        summary: Summary,
        *,
        new: NewInstance | None = None,
        timers_set: tuple[TimerRow, ...] = (),
        timers_cleared: tuple[int, ...] = (),
        waits_set: tuple[WaitRow, ...] = (),
        waits_cleared: tuple[int, ...] = (),
        correlated: tuple[tuple[str, str, str], ...] = (),
        fail_fast: bool = False,
        on_blocked: Notify | None = None,
        run: NewRun | None = None,
    ) -> None:
        """Append to the journal and wait until it is committed: through a failing store too,
        unless ``fail_fast`` (then ``StorageUnavailable``)."""
        append = Append(
            waits_set=waits_set,
            waits_cleared=waits_cleared,
            correlated=correlated,
            instance_id=self._id,
            records=records,
            summary=summary,
            new=new,
            timers_set=timers_set,
            timers_cleared=timers_cleared,
            run=run,
        )
        while True:
            try:
                await self._services.journal.append(
                    append, fail_fast=fail_fast, on_blocked=on_blocked
                )
                break
            except JournalFull:
                if fail_fast:
                    raise Overloaded("the journal queue is full; try again shortly") from None
                await self._services.journal.wait_for_room()
        self._last_seq += len(records)
        self._status = summary.status
        self._last_summary = summary

    async def _suspend(self, exc: Exception) -> None:
        self._core = None
        at = self._services.clock.now()
        error = dumps({"type": type(exc).__name__, "message": str(exc)})
        await self._write((), Summary(status="suspended", error=error, updated_at=at))
        self._services.instance_settled(self._id)

    # --- commands ---------------------------------------------------------------------

    def _carry_out(self, decision: Decision) -> None:
        self._arm(decision.activities, decision.timers_set)
        if decision.finished:
            self._services.instance_settled(self._id, self._last_summary)
            # Nothing more will happen to it: free its memory now rather than when the
            # resident limit forces it (a late message rehydrates it from its row).
            self._services.system.stop(self._id)

    def _arm(
        self, activities: tuple[r.ActivityScheduled, ...], timers: tuple[TimerRow, ...]
    ) -> None:
        """Hand the commands to the services that carry them out."""
        services = self._services
        for activity in activities:
            services.executor.submit(self._id, activity)
        for timer in timers:
            services.timers.schedule(self._id, timer.step, timer.fire_at)


ActorFactory = Callable[[str], WorkflowActor]
