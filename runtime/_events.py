"""The event router: stores an event, then hands it to every instance waiting for it.

An event is committed before anything else happens, so a crash after that loses
nothing: an instance whose wait missed the delivery takes the stored event when it
next starts (``WorkflowActor._take_stored_events``), and so does a wait that begins
after the event arrived.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from . import _records as r
from ._convert import dumps, to_json_value
from ._errors import (
    InstanceFinished,
    InstanceNotFound,
    InvalidInput,
    Overloaded,
    StorageUnavailable,
    TrioflowError,
)
from ._event import Event
from ._journal import JournalFull
from ._messages import Deliver, Reply
from ._ports import StartInstance
from .store import (
    TERMINAL,
    DuplicateEvent,
    DuplicateEvents,
    EventBatch,
    EventRow,
    StoreError,
    WaitRow,
)

if TYPE_CHECKING:
    from ._services import Services

_TRIGGER_NAMESPACE = uuid.UUID("6f1c1a52-3b8e-4f5e-9a53-6b1d3b0f7c21")


@attrs.frozen(kw_only=True)
class PublishResult:
    """What happened to a published event.

    ``duplicate``: its ``(source, id)`` was received before; nothing else happened.
    ``delivered``: instances that took it. ``started``: instances its type triggered.
    ``rejected``: triggered workflows that refused its data, and waiting instances whose
    ``data_type`` it does not fit (they wait on), each with the reason. ``forwarded``:
    waiting instances that another process drives (on a shared database): the event is
    stored and that process was told; it delivers the event there.
    """

    duplicate: bool
    delivered: tuple[str, ...] = ()
    started: tuple[str, ...] = ()
    rejected: tuple[str, ...] = ()
    stored: bool = True
    forwarded: tuple[str, ...] = ()


def trigger_instance_id(workflow: str, event: Event) -> str:
    """The id an event-triggered instance gets: the same for every redelivery."""
    key = uuid.uuid5(_TRIGGER_NAMESPACE, f"{workflow}\x00{event.source}\x00{event.id}")
    return f"{workflow}-{key.hex}"


def check_event(event: Event) -> tuple[dict[str, Any], str]:
    """The event as JSON data and text; ``InvalidInput`` naming the bad attributes."""
    problems = [
        f"event.{name}: must be a non-empty string"
        for name in ("type", "source", "id")
        if not isinstance(getattr(event, name), str) or not getattr(event, name)
    ]
    for name in ("subject", "instanceid", "time"):
        value = getattr(event, name)
        if value is not None and not isinstance(value, str):
            problems.append(f"event.{name}: must be a string")
    ttl = event.ttl
    if ttl is not None and (
        isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 <= ttl < math.inf
    ):
        problems.append("event.ttl: must be a number of seconds, 0 or more")
    if problems:
        raise InvalidInput(problems)
    data: dict[str, Any] = to_json_value(event, path="event")
    return data, dumps(data)


def check_target(services: Services, event: Event) -> bool:
    """An event for one instance needs that instance, unfinished: else ``InstanceNotFound``
    or ``InstanceFinished`` (nothing is stored). True for the redelivery of an event stored
    already, whose instance may have finished since: a duplicate, not an error."""
    if event.instanceid is None:
        return False
    row = services.store.get(event.instanceid)
    if row is None:
        raise InstanceNotFound(
            f"event {event.id!r} targets instance {event.instanceid!r}, which does not exist"
        )
    if row.status not in TERMINAL:
        return False
    if services.store.has_event(event.source, event.id):
        return True
    raise InstanceFinished(
        f"event {event.id!r} targets instance {event.instanceid!r},"
        f" which has finished ({row.status})"
    )


def _row(services: Services, event: Event, text: str) -> EventRow:
    now = services.clock.now()
    return EventRow(
        source=event.source,
        id=event.id,
        type=event.type,
        subject=event.subject,
        instanceid=event.instanceid,
        event=text,
        received_at=now,
        expires_at=None if event.ttl is None else now + event.ttl,
    )


async def publish(start: StartInstance, services: Services, event: Event) -> PublishResult:
    data, text = check_event(event)
    if check_target(services, event):
        return PublishResult(duplicate=True, stored=True)
    try:
        await services.journal.append(_row(services, event, text), fail_fast=True)
    except DuplicateEvent:
        # A redelivery after a failure between storing the event and starting what it
        # triggers (storage, a crash) finishes those starts; they are idempotent.
        await _trigger(start, services, event, [])
        return PublishResult(duplicate=True, stored=True)
    except JournalFull:
        raise Overloaded("the journal queue is full; try again shortly") from None
    return await _deliver(start, services, event, data)


async def publish_many(
    start: StartInstance, services: Services, events: Sequence[Event]
) -> list[PublishResult]:
    """Check every event, store them all in one transaction, then deliver each in turn.

    A bad event refuses the whole batch before anything is stored: the error is the one
    ``publish`` raises for it, with ``events[i]`` in front of its message.
    """
    checked: list[tuple[Event, dict[str, Any], str]] = []
    stored: set[int] = set()  # redeliveries to instances that have finished since
    for index, event in enumerate(events):
        try:
            data, text = check_event(event)
            if check_target(services, event):
                stored.add(index)
        except TrioflowError as exc:
            raise _at(index, exc) from None
        checked.append((event, data, text))
    if not checked:
        return []
    rows = tuple(_row(services, event, text) for event, _, text in checked)
    duplicates = set(stored)
    try:
        await services.journal.append(EventBatch(events=rows), fail_fast=True)
    except DuplicateEvents as exc:
        duplicates.update(exc.indexes)
    except JournalFull:
        raise Overloaded("the journal queue is full; try again shortly") from None
    results = []
    for index, (event, data, _) in enumerate(checked):
        if index in duplicates:
            await _trigger(start, services, event, [])  # as in publish
            results.append(PublishResult(duplicate=True, stored=True))
        else:
            results.append(await _deliver(start, services, event, data))
    return results


def _at(index: int, exc: TrioflowError) -> TrioflowError:
    """``exc`` for the event at ``index`` of a batch, saying so."""
    if isinstance(exc, InvalidInput):
        return InvalidInput([f"events[{index}]: {problem}" for problem in exc.problems])
    if isinstance(exc, InstanceNotFound | InstanceFinished):
        return type(exc)(f"events[{index}]: {exc}")
    return exc


async def _deliver(
    start: StartInstance, services: Services, event: Event, data: dict[str, Any]
) -> PublishResult:
    """Hand a stored event to every instance waiting for it, and to one message subscription
    per workflow (the oldest that takes it); start what it triggers."""
    subscriptions: dict[str, list[WaitRow]] = {}
    if event.instanceid is not None:
        waits = [w for w in services.store.waits_of(event.instanceid) if w.type == event.type]
    else:
        waits = []
        for wait in services.store.waits_for(event.type, event.subject):
            if wait.message is None:
                waits.append(wait)
            else:
                subscriptions.setdefault(wait.message, []).append(wait)
    elsewhere = services.peers.elsewhere_of(
        [*waits, *(w for line in subscriptions.values() for w in line)]
    )
    forwarded: list[str] = []
    replies = []
    for wait in waits:
        if wait.instance_id in elsewhere:
            _forward(wait.instance_id, forwarded)
        else:
            replies.append(await _send(services, wait, data))
    delivered: list[str] = []
    rejected: list[str] = []
    for instance_id, reply in replies:
        if await _taken(instance_id, reply, rejected) and instance_id not in delivered:
            delivered.append(instance_id)
    for line in subscriptions.values():
        for wait in sorted(line, key=lambda w: w.opened):
            if wait.instance_id in elsewhere:
                # Its owner hands the message to the first subscription in line that takes it.
                _forward(wait.instance_id, forwarded)
                break
            instance_id, reply = await _send(services, wait, data)
            if await _taken(instance_id, reply, rejected):
                if instance_id not in delivered:
                    delivered.append(instance_id)
                break
    services.peers.wake({elsewhere[instance_id] for instance_id in forwarded})

    started = await _trigger(start, services, event, rejected)
    return PublishResult(
        duplicate=False,
        delivered=tuple(delivered),
        started=tuple(started),
        rejected=tuple(rejected),
        forwarded=tuple(forwarded),
    )


def _forward(instance_id: str, forwarded: list[str]) -> None:
    if instance_id not in forwarded:
        forwarded.append(instance_id)


async def _send(services: Services, wait: WaitRow, data: dict[str, Any]) -> tuple[str, Reply]:
    reply = Reply()
    record = r.EventReceived(step=wait.step, event=data)
    await services.system.send(wait.instance_id, Deliver(record=record, reply=reply))
    return wait.instance_id, reply


async def _taken(instance_id: str, reply: Reply, rejected: list[str]) -> bool:
    """Whether the instance took the event; why not in ``rejected`` when its data did not fit."""
    try:
        taken = await reply.wait()
    except InvalidInput as exc:  # its data does not fit what the instance waits for
        rejected.append(f"{instance_id}: {exc}")
        return False
    except (TrioflowError, StoreError):  # it is stored: the instance takes it on restart
        return False
    return taken is True


async def _trigger(
    start: StartInstance, services: Services, event: Event, rejected: list[str]
) -> list[str]:
    """Start the workflows ``event`` triggers; the ids started, refusals added to ``rejected``.

    ``StorageUnavailable`` says that the event is stored but a start is not: resending the
    event (a duplicate) starts it.
    """
    started: list[str] = []
    for definition in services.registry.workflows():
        if definition.trigger != event.type:
            continue
        instance_id = trigger_instance_id(definition.name, event)
        try:
            started.append(await start(definition, event.data, instance_id=instance_id))
        except InvalidInput as exc:
            rejected.append(f"{definition.name}: {exc}")
        except StorageUnavailable as exc:
            raise StorageUnavailable(
                f"{exc}; the event is stored, but the start of {definition.name!r} it triggers"
                " is not: send the event again later to start it",
                retry_after=exc.retry_after,
            ) from None
    return started
