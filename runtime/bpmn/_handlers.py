"""Service-task handlers: plain functions registered as activities named ``bpmn:<key>``.

A handler takes the task's variables and returns the variables it produced (or None).
It runs as an activity, so it is journaled and retried like any other; raising
``TaskError`` throws a BPMN error instead, which an error boundary event may catch,
and is never retried.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from .._definitions import ActivityDefinition, Registry, RetryPolicy
from .._definitions import registry as default_registry
from .._errors import ActivityError

PREFIX = "bpmn:"

H = TypeVar("H", bound=Callable[..., Any])

_VARIABLES = inspect.Parameter(
    "variables", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=dict[str, Any]
)


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


def handler(
    key: str, *, registry: Registry | None = None, timeout: float | None = None
) -> Callable[[H], H]:
    """Register ``fn(variables) -> dict | None`` for a task type or an element id.

    Async functions run in the runtime's event loop, plain ones in a worker thread.
    ``timeout`` bounds one attempt; the number of attempts comes from the service
    task's ``zeebe:taskDefinition retries``. The function is returned unchanged.
    """
    if not key:
        raise ValueError("key must be a task type or an element id, not empty")
    if timeout is not None and timeout <= 0:
        raise ValueError("timeout must be > 0")

    def register(fn: H) -> H:
        definition: ActivityDefinition[Any, Any] = ActivityDefinition(
            name=PREFIX + key,
            fn=fn,
            retry=RetryPolicy(non_retryable=(TaskError,)),
            timeout=timeout,
            is_async=inspect.iscoroutinefunction(fn),
            parameters=[_VARIABLES],
            result_type=Any,
        )
        (registry or default_registry).add_activity(definition)
        return fn

    return register
