"""``Runtime``: opens the store, recovers every unfinished instance, and serves calls.

On a store that several processes share (PostgreSQL), recovering means claiming: the runtime
drives the instances it creates and those it claims, the orphans of processes that closed,
died or whose lease ran out, at open and then every second (`_take_over`)."""

from __future__ import annotations

import builtins
import contextlib
import functools
import logging
import os
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, Literal

import attrs
import trio

from actors import ActorSystem, RestartIntensityExceeded, RestartPolicy

from . import _records as r
from ._actor import WorkflowActor
from ._archive import Archive
from ._clock import WallClock
from ._convert import dumps, from_json_value, loads, to_json_value
from ._definitions import Registry, Retention, WorkflowDefinition, retention_seconds
from ._definitions import registry as default_registry
from ._errors import (
    InstanceConflict,
    InstanceFinished,
    InstanceNotFound,
    InvalidInput,
    NotSuspended,
    WorkflowCancelled,
    WorkflowFailed,
)
from ._event import Event, signal_type
from ._events import PublishResult, publish, publish_many
from ._executor import ActivityExecutor
from ._ids import instance_id_problem, new_instance_id
from ._instance import HistoryItem, Instance, InstancePage, ReplayReport
from ._journal import JournalClosed, JournalFull, JournalWriter
from ._listing import RuntimeStats, instance_of, instance_page, status_counts, stored_counts
from ._messages import Deliver, Reply, Start, Wake
from ._queries import replay_report_in_slices, replayed_core_in_slices
from ._resolve import resolve_incident
from ._retention import DEFAULT_RETENTION, Cutoff, Pruner, PruneReport, let_go, run_retention
from ._routing import Command, LocalPeers, Peers, poll_until_settled
from ._runs import Run, history_items, runs_of
from ._schedule import run_schedules
from ._services import Services
from ._timers import TimerService
from .store import (
    TERMINAL,
    Append,
    InstanceRow,
    SharedStore,
    Store,
    StoreError,
    Summary,
    open_store,
)

SETTLED = TERMINAL | {"suspended"}
CLAIM_BATCH = 500
LOOK_EVERY = 1.0
"""At most this many seconds between two looks for orphans (a quarter lease when shorter): a
process that was killed is gone within about two seconds (`store._postgres_owners`)."""
"""Orphans claimed per statement (recovery claims batch after batch until none is left)."""
_log = logging.getLogger("trioflow")


@attrs.define(eq=False)
class Runtime:
    """The durable workflow runtime. Open it with ``Runtime.open(path)``."""

    _services: Services
    _registry: Registry
    _archive: Archive | None = None
    """Where retention and ``prune`` write what they delete (``open``'s ``archive``)."""
    _inline: bool = False
    """``open``'s ``commit_inline``."""

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        path: str = "trioflow.db",
        *,
        synchronous: Literal["normal", "full"] = "normal",
        registry: Registry | None = None,
        max_resident: int = 10_000,
        max_concurrent_activities: int = 256,
        mailbox_capacity: int = 64,
        restart_policy: RestartPolicy | None = None,
        store: Store | None = None,
        event_retention: float = 7 * 86400,
        wall_time: Callable[[], float] = time.time,
        commit_inline: bool = False,
        retention: Retention = DEFAULT_RETENTION,
        archive: str | os.PathLike[str] | None = None,
        drive: bool = True,
        lease: float | None = None,
        poll_interval: float = 1.0,
    ) -> AsyncIterator[Runtime]:
        """Open the store at ``path``, recover every unfinished instance, then yield.

        ``path`` is a SQLite file, or a PostgreSQL database's URL
        (``postgresql://user@host/db``, needing ``pip install 'trioflow[postgres]'``).

        On exit, running work stops, appends already queued are committed and the
        store is closed; whatever was in flight resumes at the next open. ``store``
        replaces the SQLite file with another ``Store`` (it is closed on exit too).
        Events are kept for ``event_retention`` seconds (a wait that begins later than
        that after its event arrived does not see it). ``wall_time`` is read once,
        at open; from then on time advances with Trio's clock. Workflows registered
        with a ``schedule`` are started at their due times; the dues missed while no
        process ran (within ``event_retention``) are started before this yields.
        ``commit_inline`` commits in the event loop's thread, for tests on Trio's
        ``MockClock`` (``JournalWriter``); ``tests/conftest.py`` sets it for them.

        Finished instances are deleted with their journal ``retention`` (a timedelta or
        seconds; None: never) after they finished, unless their workflow has a retention
        of its own (``@workflow(retention=...)``); with ``archive`` (a JSON Lines file, or
        a directory for a file per day) each is written there first (``_retention``).

        ``drive=False`` opens a view of a database another process drives (give it a
        read-only ``store``, see ``store.open_read_only``): queries are answered from the
        store, nothing is recovered, fired, scheduled, purged or deleted, and every command is
        refused with ``JournalClosed``. Nothing is ``blocked`` there: only the driving process
        knows.

        On PostgreSQL several processes may open one database at once, each driving the
        instances it owns (``store._postgres_owners``): recovery claims the orphans (instances
        of processes that closed, died, or were silent longer than their ``lease``, seconds,
        default 10), and so does a task every second while the runtime runs (every quarter
        lease when that is shorter). A process paused past its lease loses the instances
        another claimed meanwhile: its appends for them are refused, and it drops them.
        Closing releases this process's unfinished instances.
        Events and commands for an instance another process drives are stored and that
        process is notified (``_routing``); ``poll_interval`` (seconds) bounds how late one
        arrives when a notification is lost.
        """
        if event_retention <= 0:
            raise ValueError("event_retention must be > 0")
        if not poll_interval > 0:
            raise ValueError("poll_interval must be > 0")
        kept = retention_seconds(retention, "retention")
        archived = None if archive is None else Archive(archive)
        registry = registry or default_registry
        if store is None:
            store = open_store(path, synchronous=synchronous, lease=lease)
        clock = WallClock(wall_time())
        journal = JournalWriter(store, now=clock.now, commit_inline=commit_inline)
        shared = store if isinstance(store, SharedStore) and store.owner is not None else None
        services = Services(
            registry=registry,
            store=store,
            journal=journal,
            clock=clock,
            shared=shared,
            inline=commit_inline,
        )
        runtime = cls(services, registry, archived, commit_inline)
        if drive:
            services.peers = _peers(store, services, runtime._apply, poll_interval)
        if not drive:
            journal.close()  # before anything is appended: every command is refused
        body_error: BaseException | None = None
        try:
            async with trio.open_nursery() as outer:
                await outer.start(journal.run)
                try:
                    async with trio.open_nursery() as inner:
                        await runtime._start_services(
                            inner,
                            max_resident,
                            max_concurrent_activities,
                            mailbox_capacity,
                            restart_policy or RestartPolicy(),
                        )
                        if drive:
                            await inner.start(services.peers.run)
                            await runtime._recover()
                            if shared is not None:
                                look = min(shared.lease / 4, LOOK_EVERY)
                                inner.start_soon(runtime._take_over, look)
                            inner.start_soon(
                                run_retention,
                                services,
                                kept,
                                event_retention,
                                archived,
                                commit_inline,
                            )
                            await inner.start(
                                run_schedules,
                                registry.workflows(),
                                runtime.start,
                                services.clock,
                                event_retention,
                            )
                        try:
                            yield runtime
                        except BaseException as exc:
                            body_error = exc
                            raise
                        inner.cancel_scope.cancel()
                finally:
                    journal.close()
        except BaseExceptionGroup as group:
            # The caller's own exception comes out as itself, not wrapped in our nurseries.
            if body_error is not None and _only(group, body_error):
                raise body_error from None
            raise
        finally:
            store.close()

    async def _start_services(
        self,
        nursery: trio.Nursery,
        max_resident: int,
        max_concurrent_activities: int,
        mailbox_capacity: int,
        policy: RestartPolicy,
    ) -> None:
        services = self._services
        services.executor = await nursery.start(
            ActivityExecutor.create(self._registry, services.deliver, max_concurrent_activities).run
        )
        services.executor.host = self
        services.timers = await nursery.start(TimerService(services.clock, services.deliver).run)
        services.system = await nursery.start(
            ActorSystem[str, Any](
                lambda key: WorkflowActor(services, key),
                max_resident=max_resident,
                mailbox_capacity=mailbox_capacity,
                policy=policy,
                on_give_up=lambda key, exc: nursery.start_soon(self._give_up, key, exc),
            ).run
        )

    async def _recover(self) -> None:
        services = self._services
        if services.shared is not None:
            # Replaying an instance re-arms its timers: those of instances that others
            # drive are theirs to fire.
            await self._claim_orphans(wait=True)
            return
        for timer in services.store.timers():
            services.timers.schedule(timer.instance_id, timer.step, timer.fire_at)
        replies = []
        for instance_id in services.store.unfinished():
            reply = Reply()
            await services.system.send(instance_id, Wake(reply=reply))
            replies.append(reply)
        for reply in replies:
            await reply.wait()

    async def _claim_orphans(self, *, wait: bool) -> None:
        """Claim the orphans, a batch at a time until a batch comes back short, and replay
        them (each batch waited for until resident with `wait`)."""
        services = self._services
        assert services.shared is not None
        while True:
            ids = await services.blocking(services.shared.claim_orphans, CLAIM_BATCH)
            services.claimed(ids)
            replies = []
            for instance_id in ids:
                services.system.stop(instance_id)  # an actor left of it starts afresh
                reply = Reply() if wait else None
                await services.system.send(instance_id, Wake(reply=reply))
                if reply is not None:
                    replies.append(reply)
            for reply in replies:
                await reply.wait()
            if ids:
                _log.info("claimed %d instances whose process stopped or lost its lease", len(ids))
            if len(ids) < CLAIM_BATCH:
                return

    async def _take_over(self, interval: float) -> None:
        """Every `interval` seconds, claim the orphans (released by a process that closed,
        or left by one whose lease ran out) and drive them."""
        while True:
            await trio.sleep(interval)
            try:
                await self._claim_orphans(wait=False)
            except StoreError as exc:  # the database is away: the next round tries again
                _log.warning("claiming orphaned instances failed: %s", exc)

    async def _give_up(self, instance_id: str, exc: RestartIntensityExceeded) -> None:
        """Restart intensity exceeded: stop driving the instance, keep everything else.

        It runs in the runtime's nursery, so it must not raise: a store that fails whole
        transactions is retried by the journal writer; an append the store refuses (the
        instance was never stored, say) leaves the instance as it is, which the log tells.
        """
        cause = exc.__cause__ or exc
        error = dumps({"type": type(cause).__name__, "message": str(cause)})
        summary = Summary(status="suspended", error=error, updated_at=self._services.clock.now())
        append = Append(instance_id=instance_id, records=(), summary=summary)
        while True:
            try:
                await self._services.journal.append(append)
            except JournalFull:
                await self._services.journal.wait_for_room()
                continue
            except (StoreError, JournalClosed) as refused:
                _log.error("cannot suspend instance %s: %s", instance_id, refused)
            break
        self._services.instance_settled(instance_id)

    # --- commands ---------------------------------------------------------------------

    async def start(
        self,
        workflow: WorkflowDefinition | str,
        input: Any = None,
        *,
        instance_id: str | None = None,
    ) -> str:
        """Start an instance and return its id once its start is committed.

        With ``instance_id`` the call is idempotent: an existing instance of the same
        workflow and the same input is returned as is; one of another workflow, or with
        another input, raises ``InstanceConflict``.
        Bad input raises ``InvalidInput`` naming the field, before anything is written.
        """
        name = workflow.name if isinstance(workflow, WorkflowDefinition) else workflow
        definition = self._registry.workflow(name)
        json_input, input_text = self._check_input(definition, input)
        if instance_id is None:
            instance_id = new_instance_id()
        elif problem := instance_id_problem(instance_id):
            raise InvalidInput([f"instance_id: {problem}"])
        else:
            row = self._services.store.get(instance_id)
            if row is not None:
                if row.workflow != name:
                    raise InstanceConflict(
                        f"instance {instance_id!r} exists already and runs workflow "
                        f"{row.workflow!r}, not {name!r}"
                    )
                # The stored input is the same canonical text (sorted keys, compact).
                if row.input != input_text:
                    raise InstanceConflict(
                        f"instance {instance_id!r} exists already with another input"
                        " (the same id starts the same input only once)"
                    )
                return instance_id
        record = r.WorkflowStarted(
            workflow=name,
            input=json_input,
            seed=random.getrandbits(63),
            version=definition.version,
        )
        reply = Reply()
        await self._services.system.send(
            instance_id, Start(record=record, input_text=input_text, reply=reply)
        )
        await reply.wait()
        return instance_id

    @staticmethod
    def _check_input(definition: WorkflowDefinition, input: Any) -> tuple[Any, str]:
        """The input as JSON data and text, or ``InvalidInput`` naming the bad fields."""
        if not definition.takes_input:
            if input is not None:
                raise InvalidInput([f"input: workflow {definition.name!r} takes no input"])
            return None, "null"
        json_input = to_json_value(input, path="input")
        from_json_value(json_input, definition.input_type, path="input")
        return json_input, dumps(json_input)

    async def publish(self, event: Event) -> PublishResult:
        """Store ``event`` (answered once committed), deliver it, start what it triggers.

        A redelivery (same ``source`` and ``id``) is reported as a duplicate and
        delivered nowhere twice. An event for one instance (``instanceid``) raises
        ``InstanceNotFound`` or ``InstanceFinished`` when there is no such instance or it
        has finished; nothing is stored then.
        """
        return await publish(self.start, self._services, event)

    async def publish_many(self, events: Sequence[Event]) -> builtins.list[PublishResult]:
        """Publish ``events`` all together or not at all: each is checked as ``publish``
        checks it (a bad one raises, naming ``events[i]``, and none is stored), then all
        are stored in one transaction, then each is delivered in turn."""
        return await publish_many(self.start, self._services, events)

    async def broadcast_signal(
        self, name: str, variables: Mapping[str, Any] | None = None
    ) -> PublishResult:
        """Broadcast the signal ``name``: every instance waiting for it now gets it (with
        ``variables``), and every workflow with a signal start event for it starts an
        instance. Not buffered: an instance that waits for it later does not get it."""
        problems = []
        if not isinstance(name, str) or not name.strip():
            problems.append("name: must be a non-empty string")
        if variables is not None and not isinstance(variables, Mapping):
            problems.append("variables: must be an object (a dict of variables)")
        if problems:
            raise InvalidInput(problems)
        data = dict(variables or {})
        event = Event(type=signal_type(name), source="trioflow.signal", data=data)
        return await publish(self.start, self._services, event)

    async def resolve_incident(
        self, instance_id: str, incident_id: str, variables: Mapping[str, Any] | None = None
    ) -> None:
        """The cause of an incident is fixed: set ``variables``, then retry where it stopped.

        ``InstanceNotFound``/``IncidentNotFound`` (404) for an unknown instance or incident,
        ``IncidentResolved`` (409) when it is no longer open.
        """
        await resolve_incident(
            self._services,
            instance_id,
            incident_id,
            variables,
            forward=lambda values: self._forwarded(
                Command(
                    kind="resolve",
                    instance_id=instance_id,
                    incident=incident_id,
                    variables=values,
                )
            ),
        )

    async def cancel(self, instance_id: str, reason: str = "") -> None:
        """Raise ``WorkflowCancelled`` at the workflow's current await.

        ``StorageUnavailable`` while the store takes no writes: if the request was queued
        already, the cancel still happens once a write commits (the error says so).
        """
        row = self._row(instance_id)
        if row.status in TERMINAL:
            raise InstanceFinished(f"instance {instance_id!r} has finished ({row.status})")
        if await self._forwarded(Command(kind="cancel", instance_id=instance_id, reason=reason)):
            return
        if (refusal := self._services.journal.unavailable()) is not None:
            raise refusal
        reply = Reply()
        record = r.CancelRequested(reason=reason)
        await self._services.system.send(instance_id, Deliver(record=record, reply=reply))
        await reply.wait()

    async def resume(self, instance_id: str) -> None:
        """Drive a suspended instance again (after a code fix): replay, then carry on.

        A ``blocked`` instance carries on by itself once the store takes writes; resuming
        it only makes the journal writer try the store again now. If the replay diverges
        again the instance stays suspended (with the new divergence as its error);
        ``StorageUnavailable`` while the store takes no writes (it stays suspended too).
        """
        row = self._row(instance_id)
        services = self._services
        if instance_id in services.journal.blocked:
            services.journal.retry_now()
            await trio.lowlevel.checkpoint()
            return
        if row.status != "suspended":
            raise NotSuspended(f"instance {instance_id!r} is {row.status}, not suspended")
        if await self._forwarded(Command(kind="resume", instance_id=instance_id)):
            return
        if (refusal := services.journal.unavailable()) is not None:
            raise refusal
        services.system.stop(instance_id)  # the next actor of it starts from its Wake
        reply = Reply()
        await services.system.send(instance_id, Wake(reply=reply, resume=True))
        await reply.wait()

    async def _forwarded(self, command: Command) -> bool:
        """Whether another live process drives the command's instance: then the command
        is stored for it (``_routing``), and applied there. An instance whose process is
        gone is taken here first (and the command applied here)."""
        peers = self._services.peers
        if command.instance_id not in peers.elsewhere([command.instance_id]):
            return False
        owner = await peers.take(command.instance_id)
        if owner is None:
            return False
        peers.post(command, owner)
        return True

    async def _apply(self, command: Command) -> None:
        """Carry out a command another process stored for an instance this one drives."""
        if command.kind == "cancel":
            await self.cancel(command.instance_id, command.reason)
        elif command.kind == "resume":
            await self.resume(command.instance_id)
        elif command.kind == "resolve":
            await self.resolve_incident(command.instance_id, command.incident, command.variables)
        else:
            _log.error("unknown command %r for instance %s", command.kind, command.instance_id)

    async def prune(
        self,
        older_than: Retention,
        *,
        dry_run: bool = False,
        workflow: str | None = None,
    ) -> PruneReport:
        """Delete now the finished instances (of ``workflow``, or all) last updated more
        than ``older_than`` (a timedelta or seconds) ago, whatever their retention, a batch
        at a time through the journal; archived first when the runtime was opened with an
        ``archive``. ``dry_run`` counts what would go and deletes nothing."""
        seconds = retention_seconds(older_than, "older_than")
        if seconds is None:
            raise ValueError("older_than must be a duration, not None")
        services = self._services
        pruner = Pruner(
            store=services.store,
            write=services.journal.append,
            archive=self._archive,
            dry_run=dry_run,
            deleted=functools.partial(let_go, services),
            inline=self._inline,
        )
        now = services.clock.now()
        return await pruner.run([Cutoff(before=now - seconds, workflow=workflow)], None, now)

    # --- queries --------------------------------------------------------------------------

    def _row(self, instance_id: str) -> InstanceRow:
        row = self._services.store.get(instance_id)
        if row is None:
            raise InstanceNotFound(f"no instance has id {instance_id!r}")
        return row

    async def get(self, instance_id: str) -> Instance:
        return instance_of(self._row(instance_id), self._services.journal.blocked)

    async def result(self, instance_id: str, timeout: float | None = None) -> Any:
        """Wait for the instance to finish and return its output.

        A failed instance raises ``WorkflowFailed``, a cancelled one
        ``WorkflowCancelled``; ``TimeoutError`` if it has not finished in ``timeout``.
        """
        actor = self._services.system.actor(instance_id)
        here = isinstance(actor, WorkflowActor) and actor.running
        if here:
            # In memory and unfinished: its settling will wake us, no need to read its row.
            status, output, error_text = "running", None, None
        else:
            row = self._row(instance_id)
            status, output, error_text = row.status, row.output, row.error
        if status not in SETTLED:
            settle = self._settle
            if not here and not self._ours(instance_id):
                settle = self._settle_elsewhere
            if timeout is None:  # no cancel scope: it costs on the hot path
                status, output, error_text = await settle(instance_id, status)
            else:
                with trio.move_on_after(timeout):
                    status, output, error_text = await settle(instance_id, status)
        if status == "completed":
            return None if output is None else loads(output)
        error = loads(error_text) if error_text else {"type": "", "message": ""}
        if status == "cancelled":
            raise WorkflowCancelled(error["message"])
        if status in ("failed", "suspended"):
            raise WorkflowFailed(error["type"], error["message"])
        raise TimeoutError(f"instance {instance_id!r} has not finished ({status})")

    async def _settle(self, instance_id: str, status: str) -> tuple[str, str | None, str | None]:
        """Wait until the instance settles; its final status, output and error."""
        output = error_text = None
        while status not in SETTLED:
            settled = self._services.settled(instance_id)
            await settled.event.wait()
            summary: Summary | InstanceRow | None = settled.summary
            if summary is None:
                summary = self._row(instance_id)
                if summary.status not in SETTLED and not self._ours(instance_id):
                    # Another process took it over from this one (``_actor``): its row tells.
                    return await self._settle_elsewhere(instance_id, summary.status)
            status, output, error_text = summary.status, summary.output, summary.error
        return status, output, error_text

    def _ours(self, instance_id: str) -> bool:
        """Whether this process drives the instance, so that its settling wakes `_settle`:
        always on a store of its own; on a shared one, when it owns it (one that nobody
        drives now may be claimed and finished by another process)."""
        shared = self._services.shared
        if shared is None:
            return True
        owner = shared.owner_of(instance_id)
        return owner is not None and owner.id == shared.owner

    async def _settle_elsewhere(
        self, instance_id: str, status: str
    ) -> tuple[str, str | None, str | None]:
        """Like `_settle` for an instance another process drives: its row is read until it
        settles, often at first, then less often (``poll_until_settled``)."""
        row = await poll_until_settled(lambda: self._row(instance_id), SETTLED)
        return row.status, row.output, row.error

    async def list(
        self,
        *,
        status: str | None = None,
        workflow: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
        id_prefix: str | None = None,
        order: str = "created",
    ) -> InstancePage:
        """A page of instances in the order they were created (``order="updated"``: the
        least recently updated first, ``"-updated"``: the most recently updated first);
        ``next_cursor`` continues after it, ``prev_cursor`` goes back. ``id_prefix`` keeps
        the instances whose id starts with it. ``blocked`` instances (known to this process
        only) are listed in creation order. An unknown ``status`` or ``order`` is a
        ``ValueError`` naming the ones there are."""
        return instance_page(
            self._services.store,
            self._services.journal.blocked,
            status=status,
            workflow=workflow,
            limit=limit,
            cursor=cursor,
            id_prefix=id_prefix,
            order=order,
        )

    async def counts(
        self, *, workflow: str | None = None, id_prefix: str | None = None
    ) -> dict[str, int]:
        """How many instances there are in each of ``STATUSES`` (0 included), of one
        ``workflow`` and with ids starting with ``id_prefix`` when those are given.
        A ``blocked`` instance counts as blocked only (not in its stored status)."""
        services = self._services
        return status_counts(
            services.store, services.journal.blocked, workflow=workflow, id_prefix=id_prefix
        )

    async def history(self, instance_id: str) -> builtins.list[HistoryItem]:
        """Every record of the instance's journal, of all its runs, oldest first."""
        self._row(instance_id)
        return history_items(self._services.store.read(instance_id))

    async def runs(self, instance_id: str) -> builtins.list[Run]:
        """The instance's chain of runs (``ctx.continue_as_new``), oldest first."""
        return runs_of(await self.history(instance_id))

    async def query(self, instance_id: str) -> Any:
        """What the instance exposed with ``ctx.expose``, rebuilt by replaying its journal."""
        core = await replayed_core_in_slices(self._registry, self._services.store, instance_id)
        core.close()
        return core.exposed

    async def replay(self, instance_id: str) -> ReplayReport:
        """Re-run the recorded journal against the current code; report the first divergence."""
        return await replay_report_in_slices(self._registry, self._services.store, instance_id)

    @property
    def resident(self) -> int:
        """How many workflow actors are in memory (the rest are rows, rehydrated on demand)."""
        return self._services.system.resident

    def stats(self) -> RuntimeStats:
        """Counters and gauges for metrics: one count-by-status query, the rest from memory."""
        services = self._services
        return RuntimeStats(
            instances=stored_counts(services.store, services.journal.blocked),
            journal=services.journal.stats,
            journal_queued=services.journal.queued,
            mailbox_depth=services.system.mailbox_depth,
            resident=services.system.resident,
            activities_completed=services.executor.completed,
            activities_failed=services.executor.failed,
            activities_in_flight=services.executor.in_flight,
            storage_failure=services.journal.failure,
            routing=attrs.evolve(services.peers.counts),
        )

    def workflows(self) -> builtins.list[WorkflowDefinition]:
        return list(self._registry.workflows())


def _peers(
    store: Store, services: Services, apply: Callable[[Command], Any], poll_interval: float
) -> Peers:
    """`LinkedPeers` for a store several processes share, else `LocalPeers`."""
    shared = services.shared
    link = getattr(store, "link", None)
    if shared is None or shared.owner is None or link is None:
        return LocalPeers()
    from ._routing_postgres import LinkedPeers

    return LinkedPeers(link(shared.owner), services, apply, poll_interval)


def _only(group: BaseExceptionGroup[BaseException], error: BaseException) -> bool:
    """True when every leaf of ``group`` is ``error`` or a cancellation."""
    for leaf in group.exceptions:
        if isinstance(leaf, BaseExceptionGroup):
            if not _only(leaf, error):
                return False
        elif leaf is not error and not isinstance(leaf, trio.Cancelled):
            return False
    return True
