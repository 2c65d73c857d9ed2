"""Service-task handlers: plain functions registered as activities named ``bpmn:<key>``.

A handler takes the task's variables and returns the variables it produced (or None).
A handler with a parameter annotated ``Job`` gets the job instead, as a Zeebe job worker
does: the element, the instance, the process and its version, the retries left, the task
headers and the variables. It runs as an activity, so it is journaled and retried like
any other; raising ``TaskError`` throws a BPMN error instead, which an error boundary
event may catch, and is never retried.

The activity's journaled arguments are the variables, plus for a job handler the job's
fixed part (type, element, process, headers, retries); the attempt, and with it the
retries left, comes from the attempt that runs it.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs

from .._definitions import ActivityDefinition, Registry, RetryPolicy
from .._definitions import registry as default_registry
from .._errors import ActivityError
from .._executor import current_activity

PREFIX = "bpmn:"

H = TypeVar("H", bound=Callable[..., Any])

_VARIABLES = inspect.Parameter(
    "variables", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=dict[str, Any]
)
_JOB = inspect.Parameter("job", inspect.Parameter.KEYWORD_ONLY, annotation=dict[str, Any])


@attrs.frozen(kw_only=True)
class Job:
    """What a handler that asks for it gets: the work of one service or send task.

    ``retries`` counts the attempts left including this one, as Zeebe's ``job.retries``:
    3 on the first attempt of a task with the default ``retries="3"``, 1 on its last.
    Unlike Zeebe, a handler cannot set the retries left when it fails (``failJob``), and
    ``retries="0"`` still makes one attempt where Zeebe raises an incident at once.
    ``type`` is the job type after evaluation (a FEEL ``type="=..."``), or the element
    id for a task without a ``zeebe:taskDefinition``.
    """

    type: str
    element_id: str
    element_name: str | None
    instance_id: str
    process_id: str
    process_version: str
    retries: int
    headers: Mapping[str, str]
    variables: dict[str, Any]


def takes_job(definition: ActivityDefinition[Any, Any]) -> bool:
    """Whether a registered handler wants a job (then ``ctx.run`` passes ``job=...``)."""
    return _JOB in definition.parameters


_JOB_NAMES = ("Job", "bpmn.Job", "runtime.bpmn.Job")


def _job_parameter(fn: Callable[..., Any]) -> str | None:
    """The name of ``fn``'s parameter annotated ``Job`` (string annotations resolved)."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # an annotation that does not resolve: read what is written
        hints = {}
    for name, parameter in inspect.signature(fn).parameters.items():
        annotation = hints.get(name, parameter.annotation)
        if annotation is Job or annotation in _JOB_NAMES:
            return name
    return None


def _job_adapter(fn: Callable[..., Any], job_name: str) -> Callable[..., Any]:
    """``fn`` as an activity of ``(variables, *, job)``: the job built at each attempt."""
    others = [n for n in inspect.signature(fn).parameters if n != job_name]
    if len(others) > 1:
        raise TypeError(
            f"handler {fn.__name__!r} takes {others}: a job handler takes the job and at "
            "most one other parameter (the variables)"
        )

    def arguments(variables: dict[str, Any], job: dict[str, Any]) -> dict[str, Any]:
        attempt = current_activity().attempt
        made = Job(
            variables=variables,
            instance_id=current_activity().instance_id,
            retries=max(1, job["retries"] - attempt + 1),
            **{k: v for k, v in job.items() if k != "retries"},
        )
        return {job_name: made, **({others[0]: variables} if others else {})}

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def run_async(variables: dict[str, Any], *, job: dict[str, Any]) -> Any:
            return await fn(**arguments(variables, job))

        return run_async

    @functools.wraps(fn)
    def run_sync(variables: dict[str, Any], *, job: dict[str, Any]) -> Any:
        return fn(**arguments(variables, job))

    return run_sync


class TaskError(Exception):
    """Raised by a handler to throw the BPMN error ``code`` (caught by an error boundary).

    TaskError: the business outcome the diagram models (card declined). Any other
    exception: a technical failure, retried and then failing the instance.
    """

    def __init__(self, code: str, message: str = "") -> None:
        if not code:
            raise ValueError("code must be a non-empty string")
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}" if message else code)


def thrown_code(error: ActivityError) -> tuple[str, str] | None:
    """``(code, message)`` when the activity failed with a ``TaskError``, else None.

    Only the type name and text of an exception survive the journal; TaskError's text
    is ``"<code>: <message>"`` (or the bare code), so the code is everything before the
    first ``": "``.
    """
    if error.type != TaskError.__name__:
        return None
    code, _, message = error.message.partition(": ")
    return code, message


def missing_handler(key: str) -> ActivityDefinition[Any, Any]:
    """What a job of ``key`` runs while no handler is registered for it.

    It is scheduled under the name a handler registered later takes, and the executor
    fails each attempt (the name is not registered): the journal then reads the same
    whether or not the handler exists when it is replayed, so a missing-handler incident
    can be resolved by registering the handler, even across a restart.
    """
    return ActivityDefinition(
        name=PREFIX + key,
        fn=_no_handler,
        retry=RetryPolicy(non_retryable=(TaskError,)),
        timeout=None,
        is_async=True,
        parameters=[_VARIABLES],
        result_type=Any,
    )


async def _no_handler(variables: Any) -> None:
    raise LookupError("no handler is registered")


def handler(
    key: str, *, registry: Registry | None = None, timeout: float | None = None
) -> Callable[[H], H]:
    """Register ``fn(variables) -> dict | None`` for a task type or an element id.

    ``fn(job: Job)`` (or ``fn(variables, job: Job)``) gets the ``Job`` too. Async
    functions run in the runtime's event loop, plain ones in a worker thread.
    ``timeout`` bounds one attempt; the number of attempts comes from the service
    task's ``zeebe:taskDefinition retries``. The function is returned unchanged.
    """
    if not key:
        raise ValueError("key must be a task type or an element id, not empty")
    if timeout is not None and timeout <= 0:
        raise ValueError("timeout must be > 0")

    def register(fn: H) -> H:
        job_name = _job_parameter(fn)
        run = fn if job_name is None else _job_adapter(fn, job_name)
        definition: ActivityDefinition[Any, Any] = ActivityDefinition(
            name=PREFIX + key,
            fn=run,
            retry=RetryPolicy(non_retryable=(TaskError,)),
            timeout=timeout,
            is_async=inspect.iscoroutinefunction(fn),
            parameters=[_VARIABLES] if job_name is None else [_VARIABLES, _JOB],
            result_type=Any,
        )
        (registry or default_registry).add_activity(definition)
        return fn

    return register
