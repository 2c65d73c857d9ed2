"""The activity executor: runs activity attempts with bounded concurrency.

It only runs one attempt and reports what happened (``ActivityCompleted`` or
``ActivityFailed``) to the instance; retries and their backoff are decided by the
workflow core and waited for on durable timers, so they survive a crash.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio

from . import _records as r
from ._calls import Host, current_host
from ._convert import to_json_value
from ._core import error_info
from ._definitions import ActivityDefinition, Registry

Deliver = Callable[[str, r.Input], Awaitable[None]]


@attrs.frozen(kw_only=True)
class ActivityInfo:
    """Which attempt of which activity is running (for logs, idempotency keys, ...)."""

    instance_id: str
    activity: str
    step: int
    attempt: int


_current: contextvars.ContextVar[ActivityInfo] = contextvars.ContextVar("trioflow_activity")


def current_activity() -> ActivityInfo:
    """The attempt being run, from inside an activity (a sync one in its thread too).

    ``(instance_id, step)`` is stable across attempts and restarts: a good idempotency
    key for the side effect.
    """
    try:
        return _current.get()
    except LookupError:
        raise RuntimeError("current_activity() is only available inside an activity") from None


class ActivityNotRegistered(LookupError):
    """The journal names an activity that this process has not registered."""


@attrs.define(eq=False)
class ActivityExecutor:
    """Runs attempts in its own nursery; at most ``max_concurrent`` at a time."""

    _registry: Registry
    _deliver: Deliver
    _limiter: trio.CapacityLimiter
    _nursery: trio.Nursery | None = None
    _in_flight: set[tuple[str, int, int]] = attrs.field(factory=set)
    host: Host | None = None
    """The runtime an activity may ask to start, cancel or publish (``_calls.host``)."""
    completed: int = 0
    failed: int = 0

    @classmethod
    def create(cls, registry: Registry, deliver: Deliver, max_concurrent: int) -> ActivityExecutor:
        if max_concurrent < 1:
            raise ValueError("max_concurrent_activities must be >= 1")
        return cls(registry, deliver, trio.CapacityLimiter(max_concurrent))

    async def run(self, *, task_status: trio.TaskStatus[ActivityExecutor]) -> None:
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                task_status.started(self)
                await trio.sleep_forever()
        finally:
            self._nursery = None

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def submit(self, instance_id: str, command: r.ActivityScheduled) -> None:
        """Start one attempt unless the same attempt is already running."""
        key = (instance_id, command.step, command.attempt)
        if key in self._in_flight:
            return
        if self._nursery is None:
            return  # shutting down: the attempt is journaled and runs after recovery
        self._in_flight.add(key)
        try:
            self._nursery.start_soon(self._attempt, instance_id, command, key)
        except RuntimeError:  # the nursery closed under us during shutdown: same as above
            self._in_flight.discard(key)

    async def _attempt(
        self, instance_id: str, command: r.ActivityScheduled, key: tuple[str, int, int]
    ) -> None:
        limiter = self._limiter
        try:
            try:
                limiter.acquire_nowait()  # no checkpoint while there is room: the hot path
            except trio.WouldBlock:
                await limiter.acquire()
            try:
                if self.host is not None:
                    current_host.set(self.host)
                _current.set(
                    ActivityInfo(
                        instance_id=instance_id,
                        activity=command.name,
                        step=command.step,
                        attempt=command.attempt,
                    )
                )
                outcome = await self._call(command)
            finally:
                limiter.release()
            await self._deliver(instance_id, outcome)
        finally:
            self._in_flight.discard(key)

    async def _call(self, command: r.ActivityScheduled) -> r.Input:
        definition = self._registry.activity(command.name)
        if definition is None:
            error = r.ErrorInfo(
                type=ActivityNotRegistered.__name__,
                message=f"no activity is registered as {command.name!r}",
            )
            return self._failed(command, error, retryable=True)
        try:
            args, kwargs = definition.arguments.decode(command.args, command.kwargs)
            if definition.timeout is None:  # no cancel scope: it costs on the hot path
                value = await _invoke(definition, args, kwargs)
            else:
                with trio.fail_after(definition.timeout):
                    value = await _invoke(definition, args, kwargs)
            result = to_json_value(value, path="result")
        except trio.TooSlowError:
            error = r.ErrorInfo(
                type="TimeoutError",
                message=f"attempt {command.attempt} took longer than {definition.timeout}s",
            )
            return self._failed(command, error, retryable=True)
        except Exception as exc:
            return self._failed(command, error_info(exc), definition.retry.is_retryable(exc))
        self.completed += 1
        return r.ActivityCompleted(step=command.step, attempt=command.attempt, result=result)

    def _failed(
        self, command: r.ActivityScheduled, error: r.ErrorInfo, retryable: bool
    ) -> r.ActivityFailed:
        self.failed += 1
        return r.ActivityFailed(
            step=command.step, attempt=command.attempt, error=error, retryable=retryable
        )


async def _invoke(
    definition: ActivityDefinition[Any, Any], args: list[Any], kwargs: dict[str, Any]
) -> Any:
    if definition.is_async:
        return await definition.fn(*args, **kwargs)
    return await trio.to_thread.run_sync(
        lambda: definition.fn(*args, **kwargs), abandon_on_cancel=True
    )
