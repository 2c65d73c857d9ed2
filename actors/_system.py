"""An actor system: actors addressed by key, spawned on demand, passivated when memory is short.

Theory of operation: every resident key owns one supervised child task and a queue of mailboxes.
The task creates the actor with `factory(key)`, awaits `actor.start()` (recovery), then hands each
message of the first mailbox to `actor.handle`. A crash restarts the task: a fresh actor, `start()`
again, and the same mailbox keeps draining. Closing a key's mailbox (passivation or `stop`) lets
the actor finish what is queued; its task then ends and the key stops being resident.

A message that arrives while a key's mailbox is closed but its actor is still finishing goes into
a new mailbox queued behind the closed one; when the old actor is done, the same task starts a
new incarnation on it. Two incarnations of one key therefore never run at once, and no message is
lost to a passivation race.

Passivation candidates live in an `OrderedDict` of idle residents (started, nothing sent and
unhandled, not leaving) in the order they fell idle. A send takes its key out and the actor goes
back in at the recent end once it has handled everything, so the first entry is the least
recently used idle actor: per message the bookkeeping is a counter and one dict operation, and
finding an actor to passivate does not scan the busy ones.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, Generic, Protocol, TypeVar

import attrs
import trio

from ._mailbox import Mailbox, MailboxClosed
from ._supervisor import Restart, RestartIntensityExceeded, RestartPolicy, Supervisor

K = TypeVar("K", bound=Hashable)
M = TypeVar("M")
M_contra = TypeVar("M_contra", contravariant=True)

_SCAN_LIMIT = 64
"""How many idle actors that cannot passivate one passivation pass may step over."""


class Actor(Protocol[M_contra]):
    """What an `ActorSystem` runs for one key."""

    async def start(self) -> None:
        """Recover state (for a durable actor: replay); called on spawn and on every restart."""

    async def handle(self, message: M_contra) -> None:
        """Handle one message; messages of one key are handled one at a time, in order."""

    def can_passivate(self) -> bool:
        """True when the actor holds nothing that only lives in memory."""

    def stopped(self) -> None:
        """Its mailbox was closed and drained (passivation, `stop`): let go of what it holds."""


@attrs.define(eq=False)
class _Resident(Generic[K, M]):
    system: ActorSystem[K, M]
    key: K
    mailboxes: collections.deque[Mailbox[M]]
    """[0] is drained by the current incarnation, [-1] takes new messages; more than one only
    while a closed mailbox's incarnation finishes and messages wait for the next."""
    actor: Actor[M] | None = None
    """The started actor; None while it is being created, started or restarted."""
    unhandled: int = 0
    """Messages sent, or being sent, and not yet handled."""

    def __call__(self) -> Coroutine[Any, Any, None]:
        """The supervised target: the resident is its own target, rather than a partial of
        ``_serve`` (two objects fewer per resident actor)."""
        return self.system._serve(self)

    def is_idle(self) -> bool:
        """Started, with nothing sent and unhandled, and not leaving."""
        return (
            self.actor is not None
            and self.unhandled == 0
            and len(self.mailboxes) == 1
            and not self.mailboxes[0].closed
        )


@attrs.define(eq=False)
class ActorSystem(Generic[K, M]):
    """Actors by key, each a supervised loop over its own mailbox.

    At most `max_resident` actors stay in memory: after each spawn, and whenever an actor falls
    idle while there are too many, the least recently used idle actors whose `can_passivate()` is
    True are passivated. Busy actors and actors that cannot passivate are never evicted, so the
    resident count may exceed `max_resident` until enough of them become eligible.

    An actor that exceeds its restart intensity is removed with whatever is queued for it, and
    `on_give_up(key, exc)` is called; without `on_give_up` the error escalates out of `run`.
    """

    _factory: Callable[[K], Actor[M]]
    _max_resident: int = attrs.field(default=10_000, kw_only=True)
    _mailbox_capacity: int = attrs.field(default=64, kw_only=True)
    _policy: RestartPolicy = attrs.field(default=RestartPolicy(), kw_only=True)
    _on_give_up: Callable[[K, RestartIntensityExceeded], None] | None = attrs.field(
        default=None, kw_only=True
    )
    _residents: dict[K, _Resident[K, M]] = attrs.field(factory=dict, init=False)
    _idle: collections.OrderedDict[K, _Resident[K, M]] = attrs.field(
        factory=collections.OrderedDict, init=False
    )
    """Idle residents, least recently used first."""
    _closing: int = attrs.field(default=0, init=False)
    """Residents whose newest mailbox is closed: leaving, so not counted against max_resident."""
    _supervisor: Supervisor | None = attrs.field(default=None, init=False)
    _cancel_scope: trio.CancelScope | None = attrs.field(default=None, init=False)
    _escalation: RestartIntensityExceeded | None = attrs.field(default=None, init=False)
    _give_up_on_child: Callable[[RestartIntensityExceeded], None] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._give_up_on_child = self._give_up  # one bound method for every child, not one each
        if self._max_resident < 0:
            raise ValueError("max_resident must be >= 0")
        if self._mailbox_capacity < 1:
            raise ValueError("mailbox_capacity must be >= 1")

    async def run(
        self, *, task_status: trio.TaskStatus[ActorSystem[K, M]] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Supervise the actors until cancelled; without `on_give_up`, an actor exceeding its
        restart intensity stops everything and `RestartIntensityExceeded` is raised from here.
        """
        if self._cancel_scope is not None:
            raise RuntimeError("actor system must not run twice at once")
        supervisor = Supervisor(self._policy)
        try:
            async with trio.open_nursery() as nursery:
                self._cancel_scope = nursery.cancel_scope
                await nursery.start(supervisor.run)
                self._supervisor = supervisor
                task_status.started(self)
        finally:
            self._supervisor = None
            self._cancel_scope = None
            for resident in self._residents.values():
                for mailbox in resident.mailboxes:
                    mailbox.close()
            self._residents.clear()
            self._idle.clear()
            self._closing = 0
            escalation, self._escalation = self._escalation, None
        if escalation is not None:
            raise escalation

    def send_nowait(self, key: K, message: M) -> None:
        """Deliver `message` to the actor `key`, spawning (rehydrating) it if it is not resident.

        Raises `MailboxFull` when its mailbox is full: the caller should back off.
        """
        resident = self._accepting(key)
        resident.mailboxes[-1].send_nowait(message)
        resident.unhandled += 1

    async def send(self, key: K, message: M) -> None:
        """Like `send_nowait`, but wait for room in a full mailbox.

        A mailbox with room takes the message at once, without a checkpoint: the message is
        queued when this returns either way, and a send per message is the hot path.
        """
        resident = self._accepting(key)
        if resident.mailboxes[-1].has_room():
            resident.mailboxes[-1].send_nowait(message)
            resident.unhandled += 1
            return
        while True:
            resident = self._accepting(key)
            resident.unhandled += 1
            try:
                await resident.mailboxes[-1].send(message)
            except MailboxClosed:
                # Passivated, stopped or given up while we waited: the next incarnation takes it.
                resident.unhandled -= 1
                continue
            except BaseException:
                resident.unhandled -= 1
                self._note_if_idle(resident)
                raise
            return

    def actor(self, key: K) -> Actor[M] | None:
        """The started actor of `key`; None while it is not resident or not started."""
        resident = self._residents.get(key)
        return None if resident is None else resident.actor

    def next_message(self, key: K) -> M | None:
        """The message the actor of `key` handles next, left in its mailbox; None when none
        waits. In `start` it is the message the actor was spawned for."""
        resident = self._residents.get(key)
        return None if resident is None else resident.mailboxes[0].peek()

    def is_resident(self, key: K) -> bool:
        """True while an actor for `key` is in memory, including one that is finishing."""
        return key in self._residents

    @property
    def resident(self) -> int:
        """The number of actors in memory."""
        return len(self._residents)

    @property
    def mailbox_depth(self) -> int:
        """Messages queued across all residents (for metrics; costs one pass over them)."""
        return sum(len(m) for r in self._residents.values() for m in r.mailboxes)

    def stop(self, key: K) -> None:
        """Close the mailbox of `key`: the actor handles what is queued, then is removed.

        A later message for `key` spawns a fresh actor. Nothing happens if `key` is not resident.
        """
        resident = self._residents.get(key)
        if resident is not None and not resident.mailboxes[-1].closed:
            self._close(resident)

    def _accepting(self, key: K) -> _Resident[K, M]:
        """The resident for `key` with an open mailbox last in its queue, spawned if needed."""
        resident = self._residents.get(key)
        if resident is None:
            return self._spawn(key)
        self._idle.pop(key, None)
        if resident.mailboxes[-1].closed:
            resident.mailboxes.append(Mailbox(self._mailbox_capacity))
            self._closing -= 1
        return resident

    def _spawn(self, key: K) -> _Resident[K, M]:
        if self._supervisor is None:
            raise RuntimeError("actor system must be running to send")
        resident: _Resident[K, M] = _Resident(
            system=self, key=key, mailboxes=collections.deque([Mailbox(self._mailbox_capacity)])
        )
        # The supervisor key is the actor key: a resident leaves `_residents` only after (or in
        # the same step as) its supervised child ends, so a respawn never finds the key taken.
        self._supervisor.start_child(
            key,
            resident,
            restart=Restart.TRANSIENT,
            on_give_up=self._give_up_on_child,
            stoppable=False,  # a resident ends by closing its mailbox, never by cancellation
        )
        self._residents[key] = resident
        self._passivate_excess()
        return resident

    async def _serve(self, resident: _Resident[K, M]) -> None:
        """The supervised body of one resident: one incarnation per mailbox in its queue."""
        key = resident.key
        try:
            while True:
                actor = self._factory(key)
                await actor.start()
                resident.actor = actor
                mailbox = resident.mailboxes[0]
                while True:
                    if resident.unhandled == 0:
                        self._note_if_idle(resident)
                    try:
                        # A queued message is taken without a checkpoint (`handle` has its
                        # own); only an empty mailbox waits.
                        if len(mailbox):
                            message = mailbox.receive_nowait()
                        else:
                            message = await mailbox.receive()
                    except MailboxClosed:
                        break
                    try:
                        await actor.handle(message)
                    finally:
                        resident.unhandled -= 1
                        del message  # a parked actor does not keep its last message alive
                resident.actor = None
                actor.stopped()
                resident.mailboxes.popleft()
                if not resident.mailboxes:
                    del self._residents[key]
                    self._closing -= 1
                    return
        finally:
            resident.actor = None
            self._idle.pop(key, None)

    def _give_up(self, exceeded: RestartIntensityExceeded) -> None:
        # The supervisor's key is the actor's: the resident of that key is the one given up on
        # (it leaves `_residents` only once its supervised child has ended).
        key: K = exceeded.key  # type: ignore[assignment]
        self._idle.pop(key, None)
        resident = self._residents.pop(key, None)
        if resident is not None:
            if resident.mailboxes[-1].closed:
                self._closing -= 1
            # Queued messages are dropped with the actor; blocked senders retry on a fresh one.
            for mailbox in resident.mailboxes:
                mailbox.close()
        if self._on_give_up is not None:
            self._on_give_up(key, exceeded)
        elif self._escalation is None and self._cancel_scope is not None:
            self._escalation = exceeded
            self._cancel_scope.cancel()

    def _note_if_idle(self, resident: _Resident[K, M]) -> None:
        """Make an idle resident the most recent passivation candidate; passivate if too many."""
        if resident.is_idle():
            self._idle[resident.key] = resident
            if len(self._residents) - self._closing > self._max_resident:
                self._passivate_excess()

    def _passivate_excess(self) -> None:
        """Passivate least recently used idle actors until at most `max_resident` stay open.

        An idle actor that cannot passivate goes to the recent end; at most `_SCAN_LIMIT` of
        them are looked at per call, so a crowd of them does not make every spawn slow.
        """
        excess = len(self._residents) - self._closing - self._max_resident
        idle = self._idle
        budget = min(len(idle), _SCAN_LIMIT)
        while excess > 0 and budget > 0 and idle:
            key, resident = idle.popitem(last=False)
            actor = resident.actor
            if actor is None:  # cannot happen: only started actors are idle
                continue
            if actor.can_passivate():
                self._close(resident)
                excess -= 1
            else:
                idle[key] = resident
                budget -= 1

    def _close(self, resident: _Resident[K, M]) -> None:
        self._idle.pop(resident.key, None)
        resident.mailboxes[-1].close()
        self._closing += 1
