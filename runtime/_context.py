"""What workflow code sees: ``WorkflowContext`` and the futures its operations return.

Every operation is deterministic: it only reads what arrived in journal records.
"""

from __future__ import annotations

import datetime as dt
import random as _random
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Generator, Sequence
from typing import TYPE_CHECKING, Any, Generic, NoReturn, Protocol, TypeVar

from ._definitions import ActivityDefinition

if TYPE_CHECKING:
    from ._event import Event

T = TypeVar("T")


class Future(Generic[T]):
    """The eventual result of one workflow operation; resolved only by the core."""

    __slots__ = ("_callbacks", "_done", "_error", "_value", "step")

    def __init__(self) -> None:
        self.step: int | None = None  # the journal step of the operation, if it is one
        self._done = False
        self._value: Any = None
        self._error: BaseException | None = None
        self._callbacks: list[Callable[[Future[T]], None]] | None = None  # made when needed

    @property
    def done(self) -> bool:
        return self._done

    def result(self) -> T:
        if self._error is not None:
            raise self._error
        value: T = self._value
        return value

    def set_result(self, value: T) -> None:
        self._finish(value, None)

    def set_error(self, error: BaseException) -> None:
        self._finish(None, error)

    def _finish(self, value: Any, error: BaseException | None) -> None:
        if self._done:
            return
        self._done, self._value, self._error = True, value, error
        callbacks, self._callbacks = self._callbacks, None
        for callback in callbacks or ():
            callback(self)

    def add_callback(self, callback: Callable[[Future[T]], None]) -> None:
        if self._callbacks is None:
            self._callbacks = []
        self._callbacks.append(callback)

    def remove_callback(self, callback: Callable[[Future[T]], None]) -> None:
        if self._callbacks is None:
            raise ValueError("the callback was not added")
        self._callbacks.remove(callback)

    def __await__(self) -> Generator[Any, None, T]:
        if not self._done:
            yield self
        return self.result()


class Operations(Protocol):
    """What a context asks of the core that drives its workflow (``WorkflowCore`` is one)."""

    at: float
    """The time of the input being handled."""
    exposed: Any
    holder: Any
    """The workflow's state as plain data, when it has one (``_snapshot.StateHolder``)."""

    def schedule_activity(
        self, activity: ActivityDefinition[Any, Any], args: Sequence[Any], kwargs: dict[str, Any]
    ) -> Future[Any]: ...

    def start_timer(self, fire_at: float) -> Future[None]: ...

    def wait_event(
        self,
        type: str,
        subject: str | None,
        timeout: float | None,
        data_type: Any,
        message: bool = False,
    ) -> Future[Any]: ...

    def raise_incident(self, element_id: str, message: str) -> Future[dict[str, Any]]: ...

    def cancel_step(self, future: Future[Any]) -> bool: ...

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> Future[Any]: ...

    def continue_as_new(self, args: Sequence[Any]) -> BaseException:
        """The exception that ends the run and starts the next with ``args`` as its input."""
        ...


class WorkflowContext:
    """The handle a workflow gets as its first argument.

    Workflow code must only await what this object returns; everything else
    (``trio.sleep``, sockets, ``time.time()``) breaks replay.
    """

    def __init__(self, core: Operations, instance_id: str, workflow: str, seed: int) -> None:
        self._core = core
        self.instance_id = instance_id
        self.workflow = workflow
        self._seed = seed
        self._rng: _random.Random | None = None  # seeding is costly: only when asked for

    def run(self, activity: ActivityDefinition[Any, T], /, *args: Any, **kwargs: Any) -> Future[T]:
        """Schedule an activity now and return a future of its (journaled) result."""
        return self._core.schedule_activity(activity, args, kwargs)

    def sleep(self, seconds: float) -> Future[None]:
        """A durable timer: survives restarts and fires at the recorded time."""
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        return self._core.start_timer(self._core.at + seconds)

    def sleep_until(self, when: dt.datetime) -> Future[None]:
        if when.tzinfo is None:
            raise ValueError("when must be timezone-aware")
        return self._core.start_timer(when.timestamp())

    def wait_event(
        self,
        type: str,
        subject: str | None = None,
        timeout: float | None = None,
        data_type: Any = None,
        *,
        message: bool = False,
    ) -> Future[Event]:
        """Wait for an event of ``type`` (and ``subject``, when given) or one targeting us.

        Every waiting instance gets each such event. ``message=True`` waits as a BPMN message
        subscription does instead: an event goes to one subscription per workflow (the
        oldest), and one published earlier with a ``ttl`` still unexpired is taken too.
        """
        if timeout is not None and timeout < 0:
            raise ValueError("timeout must be >= 0")
        return self._core.wait_event(type, subject, timeout, data_type, message)

    def raise_incident(self, element_id: str, message: str) -> Future[dict[str, Any]]:
        """Stop here with an incident (instance status ``incident``) until an operator
        resolves it with ``Runtime.resolve_incident``; the result is the variables given
        then. BPMN instances use it where Zeebe raises an incident."""
        return self._core.raise_incident(element_id, message)

    def gather(self, *aws: Awaitable[Any]) -> Future[tuple[Any, ...]]:
        """Wait for all of ``aws`` (futures or coroutines); results in argument order.

        When several fail, the first failure in argument order is raised, after all
        of them have finished, so the outcome never depends on arrival order.
        """
        return _all_of([self._as_future(aw) for aw in aws])

    def first(self, *aws: Awaitable[Any]) -> Future[tuple[int, Any]]:
        """Wait for whichever of ``aws`` finishes first: ``(its index, its result)``.

        If it failed, its error is raised. The others keep going: withdraw them with
        ``ctx.cancel`` if their outcome no longer matters (a timer racing an event, say).
        """
        futures = [self._as_future(aw) for aw in aws]
        if not futures:
            raise ValueError("first needs at least one awaitable")
        return _first_of(futures)

    def cancel(self, operation: Future[Any]) -> bool:
        """Withdraw a pending ``run``, ``sleep`` or ``wait_event``; False if it had finished."""
        return self._core.cancel_step(operation)

    def continue_as_new(self, *args: Any) -> NoReturn:
        """End this run and start the next one of the same instance with ``args`` as its
        input (as ``Runtime.start`` takes it), with a fresh journal: replay after a restart
        begins there. The run's pending operations are dropped; events it did not take stay
        for the new run. Raises ``InvalidInput`` (nothing ends) when ``args`` do not fit the
        workflow's input type."""
        raise self._core.continue_as_new(args)

    def _as_future(self, aw: Awaitable[Any]) -> Future[Any]:
        if isinstance(aw, Future):
            return aw
        if isinstance(aw, Coroutine):
            return self._core.spawn(aw)
        raise TypeError(f"expected a future or a coroutine, not {aw!r}")

    def expose(self, state: Any) -> None:
        """Make ``state`` readable with ``Runtime.query`` (a view of progress, say).

        It is rebuilt by replay, never stored: keep it a function of the journal.
        """
        self._core.exposed = state

    def _keep_state(self, holder: Any) -> None:
        """For a workflow whose state is plain data (the BPMN interpreter's instance):
        ``holder`` gives it when the core takes a snapshot (``_snapshot.StateHolder``)."""
        self._core.holder = holder

    def now(self) -> dt.datetime:
        """The time of the record being handled: the same on every replay."""
        return dt.datetime.fromtimestamp(self._core.at, dt.UTC)

    def _random(self) -> _random.Random:
        if self._rng is None:
            self._rng = _random.Random(self._seed)
        return self._rng

    def random(self) -> float:
        """A float in [0, 1), the same on every replay."""
        return self._random().random()

    def uuid4(self) -> uuid.UUID:
        """A random UUID, the same on every replay."""
        return uuid.UUID(int=self._random().getrandbits(128), version=4)


def _all_of(futures: list[Future[Any]]) -> Future[tuple[Any, ...]]:
    combined: Future[tuple[Any, ...]] = Future()
    remaining = len(futures)

    def on_done(_: Future[Any]) -> None:
        nonlocal remaining
        remaining -= 1
        if remaining == 0:
            finish()

    def finish() -> None:
        for f in futures:
            if f._error is not None:
                combined.set_error(f._error)
                return
        combined.set_result(tuple(f._value for f in futures))

    if remaining == 0:
        finish()
    for f in futures:
        if f.done:
            on_done(f)
        else:
            f.add_callback(on_done)
    return combined


def _first_of(futures: list[Future[Any]]) -> Future[tuple[int, Any]]:
    winner: Future[tuple[int, Any]] = Future()
    for index, f in enumerate(futures):
        if f.done:
            _settle_first(winner, index, f)
            return winner

    def make(index: int) -> Callable[[Future[Any]], None]:
        def on_done(f: Future[Any]) -> None:
            _settle_first(winner, index, f)
            for other in futures:
                if other is not f and not other.done:
                    other.remove_callback(callbacks[id(other)])

        return on_done

    callbacks: dict[int, Callable[[Future[Any]], None]] = {}
    for index, f in enumerate(futures):
        callbacks[id(f)] = make(index)
        f.add_callback(callbacks[id(f)])
    return winner


def _settle_first(winner: Future[tuple[int, Any]], index: int, f: Future[Any]) -> None:
    if f._error is not None:
        winner.set_error(f._error)
    else:
        winner.set_result((index, f._value))
