"""A one_for_one supervisor with Erlang/OTP restart semantics.

Theory of operation: each child is one task in the supervisor's nursery, running its target in a
loop. When the target ends, the child's `Restart` kind decides whether it runs again. Every restart
is counted in a sliding window of `RestartPolicy.within` seconds; the n-th restart in the window
waits `initial_backoff * factor ** (n - 1)` seconds (at most `max_backoff`), so a child that stays
healthy for a whole window starts again from the initial backoff. A restart beyond `max_restarts`
in the window gives up on the child: its `on_give_up` callback is told, or, without one, the
failure escalates out of `Supervisor.run` to whoever runs the supervisor.
"""

from __future__ import annotations

import collections
import contextlib
import enum
import logging
from collections.abc import Awaitable, Callable, Hashable

import attrs
import trio

logger = logging.getLogger("actors")
_NO_SCOPE = contextlib.nullcontext()
"""Stands in for the cancel scope of a child started with ``stoppable=False``."""


class Restart(enum.Enum):
    """When a child whose target has ended runs again."""

    PERMANENT = "permanent"
    """Always restarted, whether it returns or raises."""
    TRANSIENT = "transient"
    """Restarted only when it raises."""
    TEMPORARY = "temporary"
    """Never restarted."""


@attrs.frozen(kw_only=True)
class RestartPolicy:
    """How often a child may restart, and how long to wait before each restart."""

    max_restarts: int = attrs.field(default=3, validator=attrs.validators.ge(0))
    """Restart intensity: at most this many restarts ..."""
    within: float = attrs.field(default=5.0, validator=attrs.validators.gt(0))
    """... within this many seconds (on the Trio clock)."""
    initial_backoff: float = attrs.field(default=0.05, validator=attrs.validators.ge(0))
    """Seconds before the first restart in the window."""
    factor: float = attrs.field(default=2.0, validator=attrs.validators.ge(1))
    """Each further restart in the window waits this many times longer ..."""
    max_backoff: float = attrs.field(default=5.0, validator=attrs.validators.ge(0))
    """... but never longer than this."""


class RestartIntensityExceeded(Exception):
    """A child failed more than max_restarts times within `within` seconds; escalated instead of
    looping.

    `key` names the child and `failures` counts its exits in the window; the last error, if the
    child raised rather than returned, is `__cause__`.
    """

    def __init__(self, key: object, failures: int, policy: RestartPolicy) -> None:
        super().__init__(
            f"child {key!r} must restart at most {policy.max_restarts} times within"
            f" {policy.within} seconds; it exited {failures} times"
        )
        self.key = key
        self.failures = failures


@attrs.define(eq=False)
class _Child:
    key: Hashable
    target: Callable[[], Awaitable[None]]
    restart: Restart
    policy: RestartPolicy
    on_give_up: Callable[[RestartIntensityExceeded], None] | None
    scope: trio.CancelScope | None
    """What `stop_child` cancels; None for a child started with ``stoppable=False``."""
    exits: collections.deque[float] | None = None
    """Trio times of the exits inside the current window, oldest first (made at the first)."""


@attrs.define(eq=False)
class Supervisor:
    """Runs children one_for_one: a failing child is restarted alone, its siblings are untouched.

    Start it with `await nursery.start(supervisor.run)`, then add children with `start_child`.
    """

    _policy: RestartPolicy = RestartPolicy()
    _children: dict[Hashable, _Child] = attrs.field(factory=dict, init=False)
    _nursery: trio.Nursery | None = attrs.field(default=None, init=False)
    _escalation: RestartIntensityExceeded | None = attrs.field(default=None, init=False)

    async def run(
        self, *, task_status: trio.TaskStatus[Supervisor] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Supervise children until cancelled; a child exceeding its intensity without an
        `on_give_up` callback cancels the rest and raises `RestartIntensityExceeded` from here.
        """
        if self._nursery is not None:
            raise RuntimeError("supervisor must not run twice at once")
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                task_status.started(self)
                await trio.sleep_forever()
        finally:
            self._nursery = None
            self._children.clear()
            escalation, self._escalation = self._escalation, None
        if escalation is not None:
            raise escalation

    def start_child(
        self,
        key: Hashable,
        target: Callable[[], Awaitable[None]],
        *,
        restart: Restart = Restart.PERMANENT,
        policy: RestartPolicy | None = None,
        on_give_up: Callable[[RestartIntensityExceeded], None] | None = None,
        stoppable: bool = True,
    ) -> None:
        """Run `target()` as the child `key`, restarting it as `restart` and `policy` say.

        With `on_give_up`, a child that exceeds its restart intensity is dropped and the callback
        is called; its siblings keep running. ``stoppable=False`` runs the child without a cancel
        scope of its own, which `stop_child` would need: cheaper for many short-lived children
        that end by themselves.
        """
        if self._nursery is None:
            raise RuntimeError("supervisor must be running to start a child")
        if key in self._children:
            raise ValueError(f"child key must be unique: {key!r} is already supervised")
        child = _Child(
            key=key,
            target=target,
            restart=restart,
            policy=self._policy if policy is None else policy,
            on_give_up=on_give_up,
            scope=trio.CancelScope() if stoppable else None,
        )
        self._children[key] = child
        self._nursery.start_soon(self._supervise, child, name=f"supervised child {key!r}")

    def stop_child(self, key: Hashable) -> None:
        """Cancel the child `key` without restarting it; nothing happens if there is none.

        Raises `ValueError` for a child started with ``stoppable=False``.
        """
        child = self._children.get(key)
        if child is None:
            return
        if child.scope is None:
            raise ValueError(
                f"child {key!r} was started with stoppable=False: it cannot be stopped"
            )
        del self._children[key]
        child.scope.cancel()

    def __contains__(self, key: object) -> bool:
        return key in self._children

    def __len__(self) -> int:
        return len(self._children)

    async def _supervise(self, child: _Child) -> None:
        """Run the child's target, again and again as its restart kind and intensity say."""
        try:
            with _NO_SCOPE if child.scope is None else child.scope:
                while True:
                    error: Exception | None = None
                    try:
                        await child.target()
                    except Exception as exc:
                        # BaseExceptions (trio.Cancelled, KeyboardInterrupt, SystemExit) are not
                        # failures of the child: they propagate.
                        error = exc
                    if child.restart is Restart.TEMPORARY or (
                        error is None and child.restart is Restart.TRANSIENT
                    ):
                        if error is not None:
                            logger.error("temporary child %r failed", child.key, exc_info=error)
                        return
                    exits = _record_exit(child)
                    if exits > child.policy.max_restarts:
                        # A child failing because its scope or the supervisor is being cancelled
                        # is shutting down, not giving up.
                        await trio.lowlevel.checkpoint_if_cancelled()
                        self._give_up(child, exits, error)
                        return
                    logger.warning("restarting child %r", child.key, exc_info=error)
                    await trio.sleep(_backoff(child.policy, exits))
        finally:
            if self._children.get(child.key) is child:
                del self._children[child.key]

    def _give_up(self, child: _Child, exits: int, error: Exception | None) -> None:
        exceeded = RestartIntensityExceeded(child.key, exits, child.policy)
        exceeded.__cause__ = error
        if self._children.get(child.key) is child:
            del self._children[child.key]
        if child.on_give_up is not None:
            logger.error("gave up on child %r", child.key, exc_info=exceeded)
            child.on_give_up(exceeded)
        elif self._escalation is None and self._nursery is not None:
            self._escalation = exceeded
            self._nursery.cancel_scope.cancel()


def _record_exit(child: _Child) -> int:
    """Count an exit at the current time and return how many fall inside the window."""
    now = trio.current_time()
    exits = child.exits
    if exits is None:
        exits = child.exits = collections.deque()
    exits.append(now)
    horizon = now - child.policy.within
    while exits[0] <= horizon:
        exits.popleft()
    return len(exits)


def _backoff(policy: RestartPolicy, restarts: int) -> float:
    """Seconds to wait before the `restarts`-th restart inside the window (1-based)."""
    return min(policy.initial_backoff * policy.factor ** (restarts - 1), policy.max_backoff)
