"""Workflow and activity definitions, and the registry that names them."""

from __future__ import annotations

import datetime as dt
import inspect
import math
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Generic, Literal, ParamSpec, Protocol, TypeVar, overload

import attrs

from ._convert import Arguments, check_signature, parameter_types, return_type
from ._errors import WorkflowNotFound

P = ParamSpec("P")
R = TypeVar("R")


Retention = dt.timedelta | float | None
"""How long a finished instance is kept: a timedelta or seconds (> 0); None keeps it forever."""


def retention_seconds(value: Retention, name: str) -> float | None:
    """``value`` in seconds (None stays None: kept forever); ValueError unless it is > 0."""
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, dt.timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise TypeError(f"{name} must be a timedelta, a number of seconds or None, not {value!r}")
    if not 0 < seconds < math.inf:
        raise ValueError(f"{name} must be > 0 and finite (None keeps forever), got {value!r}")
    return float(seconds)


def own_retention(value: Retention | Literal["runtime"]) -> float | Literal["runtime"] | None:
    """A definition's ``retention`` argument checked: seconds, None, or ``"runtime"``."""
    if isinstance(value, str):
        if value != "runtime":
            raise ValueError(f"retention must be a timedelta, seconds or None, not {value!r}")
        return value
    return retention_seconds(value, "retention")


def _positive(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How often an activity is attempted and how long to wait between attempts.

    The wait before attempt ``n + 1`` is ``initial_interval * backoff ** (n - 1)``,
    capped at ``max_interval``. Exceptions listed in ``non_retryable`` fail at once.
    """

    max_attempts: int = attrs.field(default=3)
    initial_interval: float = attrs.field(default=1.0, validator=_positive)
    backoff: float = attrs.field(default=2.0)
    max_interval: float = attrs.field(default=60.0, validator=_positive)
    non_retryable: tuple[type[BaseException], ...] = ()

    @max_attempts.validator
    def _check_attempts(self, _: attrs.Attribute[int], value: int) -> None:
        if value < 1:
            raise ValueError("max_attempts must be >= 1")

    @backoff.validator
    def _check_backoff(self, _: attrs.Attribute[float], value: float) -> None:
        if value < 1:
            raise ValueError("backoff must be >= 1")

    def delay_after(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return float(min(self.initial_interval * self.backoff ** (attempt - 1), self.max_interval))

    def is_retryable(self, exc: BaseException) -> bool:
        return not isinstance(exc, self.non_retryable)


@attrs.frozen(kw_only=True)
class ActivityDefinition(Generic[P, R]):
    """An activity: a function with side effects, journaled and retried by the runtime."""

    name: str
    fn: Callable[P, Any]
    retry: RetryPolicy
    timeout: float | None
    is_async: bool
    parameters: list[inspect.Parameter] = attrs.field(eq=False)
    result_type: Any = attrs.field(eq=False)
    arguments: Arguments = attrs.field(init=False, eq=False, repr=False)
    """Converts the arguments to and from JSON, each by its parameter's annotation."""

    @arguments.default
    def _arguments(self) -> Arguments:
        return Arguments.of(self.name, self.parameters)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        """Calling an activity directly runs the plain function (handy in unit tests)."""
        return self.fn(*args, **kwargs)


@attrs.frozen(kw_only=True)
class WorkflowDefinition:
    """A code workflow: ``async def fn(ctx, input)``."""

    name: str
    fn: Callable[..., Any]
    input_type: Any = attrs.field(eq=False)
    takes_input: bool
    output_type: Any = attrs.field(default=Any, eq=False)
    """The return annotation: a workflow whose output does not fit it fails."""
    trigger: str | None = None
    kind: str = "code"
    version: str | None = None
    """Set for definitions that change under running instances (BPMN): each instance
    runs the version it started with."""
    schedule: Callable[[float], float | None] | None = attrs.field(default=None, eq=False)
    """The first due time strictly after the given epoch seconds, or None when there is
    none: the runtime starts an instance (input None) at each due time (``_schedule``)."""
    schedule_relative: bool = False
    """True: ``schedule`` works in seconds since the runtime opened instead of epoch
    seconds (it is asked first with ``-inf``); it starts counting again at every open."""
    retention: float | Literal["runtime"] | None = "runtime"
    """Seconds a finished instance is kept before retention deletes it; None: forever;
    ``"runtime"``: the ``retention`` the runtime was opened with."""
    snapshot_every: int | None = None
    """Journal a snapshot of the instance's state every this many records (a BPMN process,
    ``bpmn.load``); None: never (a code workflow's state is not plain data)."""


@attrs.define(eq=False)
class Registry:
    """Workflows and activities by name."""

    _workflows: dict[str, WorkflowDefinition] = attrs.field(factory=dict)
    _versions: dict[tuple[str, str], WorkflowDefinition] = attrs.field(factory=dict)
    _activities: dict[str, ActivityDefinition[Any, Any]] = attrs.field(factory=dict)

    def add_workflow(self, definition: WorkflowDefinition) -> None:
        """Register (or replace) a workflow; a versioned one keeps its older versions."""
        self._workflows[definition.name] = definition
        if definition.version is not None:
            self._versions[(definition.name, definition.version)] = definition

    def add_activity(self, definition: ActivityDefinition[Any, Any]) -> None:
        self._activities[definition.name] = definition

    def workflow(self, name: str, version: str | None = None) -> WorkflowDefinition:
        """The latest definition of ``name``, or the given ``version`` of it."""
        try:
            if version is not None:
                return self._versions[(name, version)]
            return self._workflows[name]
        except KeyError:
            which = f"version {version!r} of " if version is not None else ""
            raise WorkflowNotFound(f"no workflow is registered as {which}{name!r}") from None

    def activity(self, name: str) -> ActivityDefinition[Any, Any] | None:
        return self._activities.get(name)

    def workflows(self) -> Iterator[WorkflowDefinition]:
        return iter(sorted(self._workflows.values(), key=lambda d: d.name))


registry = Registry()
"""The default registry that ``@workflow`` and ``@activity`` add to."""


class _ActivityDecorator(Protocol):
    @overload
    def __call__(self, fn: Callable[P, Awaitable[R]], /) -> ActivityDefinition[P, R]: ...
    @overload
    def __call__(self, fn: Callable[P, R], /) -> ActivityDefinition[P, R]: ...


@overload
def activity(fn: Callable[P, Awaitable[R]], /) -> ActivityDefinition[P, R]: ...
@overload
def activity(fn: Callable[P, R], /) -> ActivityDefinition[P, R]: ...
@overload
def activity(
    *,
    name: str | None = None,
    retry: RetryPolicy | None = None,
    timeout: float | None = None,
) -> _ActivityDecorator: ...
def activity(
    fn: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    retry: RetryPolicy | None = None,
    timeout: float | None = None,
) -> Any:
    """Declare an activity: an ``async def`` or plain function whose result is journaled.

    Sync functions run in a worker thread. ``timeout`` bounds one attempt.
    """
    if timeout is not None and timeout <= 0:
        raise ValueError("timeout must be > 0")

    def wrap(f: Callable[P, R]) -> ActivityDefinition[P, R]:
        params = parameter_types(f)
        result = return_type(f)
        check_signature(f"activity {f.__name__!r}", params, result)
        definition: ActivityDefinition[P, R] = ActivityDefinition(
            name=name or f.__name__,
            fn=f,
            retry=retry or RetryPolicy(),
            timeout=timeout,
            is_async=inspect.iscoroutinefunction(f),
            parameters=params,
            result_type=result,
        )
        registry.add_activity(definition)
        return definition

    return wrap(fn) if fn is not None else wrap


@overload
def workflow(fn: Callable[..., Any], /) -> WorkflowDefinition: ...
@overload
def workflow(
    *,
    name: str | None = None,
    trigger: str | None = None,
    retention: Retention | Literal["runtime"] = "runtime",
) -> Callable[[Callable[..., Any]], WorkflowDefinition]: ...
def workflow(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    trigger: str | None = None,
    retention: Retention | Literal["runtime"] = "runtime",
) -> Any:
    """Declare a workflow: ``async def fn(ctx: WorkflowContext, input: T) -> U``.

    ``retention`` (a timedelta or seconds; None: forever) is how long its finished
    instances are kept, instead of the ``retention`` the runtime was opened with.
    """
    seconds = own_retention(retention)

    def wrap(f: Callable[..., Any]) -> WorkflowDefinition:
        if not inspect.iscoroutinefunction(f):
            raise TypeError(f"workflow {f.__name__!r} must be an async def function")
        params = parameter_types(f)
        if not 1 <= len(params) <= 2:
            raise TypeError(
                f"workflow {f.__name__!r} must take (ctx) or (ctx, input), not {len(params)} "
                "parameters"
            )
        output = return_type(f)
        check_signature(f"workflow {f.__name__!r}", params[1:], output)  # not ctx
        definition = WorkflowDefinition(
            name=name or f.__name__,
            fn=f,
            input_type=params[1].annotation if len(params) == 2 else None,
            takes_input=len(params) == 2,
            output_type=output,
            trigger=trigger,
            retention=seconds,
        )
        registry.add_workflow(definition)
        return definition

    return wrap(fn) if fn is not None else wrap
