"""Errors of the workflow runtime.

Each error knows which HTTP status it maps to (``http_status``), so the API layer
translates them with one small function instead of a ladder of ``except`` clauses.
"""

from __future__ import annotations

from typing import ClassVar


class TrioflowError(Exception):
    """Base class of every error the runtime raises on purpose."""

    http_status: ClassVar[int] = 500


class InvalidInput(TrioflowError, ValueError):
    """The input of a workflow does not fit its declared type; nothing was written."""

    http_status = 400

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems) or "invalid input")


class WorkflowNotFound(TrioflowError, LookupError):
    """No workflow is registered under that name."""

    http_status = 404


class InstanceNotFound(TrioflowError, LookupError):
    """No instance has that id."""

    http_status = 404


class InstanceConflict(TrioflowError):
    """An instance with that id exists already, but runs another workflow."""

    http_status = 409


class InstanceFinished(TrioflowError):
    """The instance has finished; it can no longer be cancelled or sent events."""

    http_status = 409


class NotSuspended(TrioflowError):
    """Only a suspended instance can be resumed."""

    http_status = 409


class IncidentNotFound(TrioflowError, LookupError):
    """The instance never had an incident with that id."""

    http_status = 404


class IncidentResolved(TrioflowError):
    """The incident was resolved already (or withdrawn with its element): nothing to do."""

    http_status = 409


class Overloaded(TrioflowError):
    """A mailbox or the journal queue is full; try again shortly.

    ``retry_after``: seconds a client should wait before trying again.
    """

    http_status = 503
    retry_after: float = 1.0


class StorageUnavailable(TrioflowError):
    """The database takes no writes now (disk full, I/O error, busy): try again later.

    Overloaded: we are busy. StorageUnavailable: the store is failing and the journal
    writer retries it; work already accepted waits (its instances are ``blocked``) and
    carries on by itself once a write commits. ``retry_after`` is the writer's next
    retry, in seconds.
    """

    http_status = 503

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NonDeterminismError(TrioflowError):
    """Replaying the journal through the current code issued a different command.

    The instance is suspended; a fixed deployment can resume it.
    """

    http_status = 409

    def __init__(self, step: int, expected: str, actual: str) -> None:
        self.step = step
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"nondeterminism at step {step}: the journal recorded {expected}, "
            f"the code now issues {actual}"
        )


class UnsupportedAwait(TrioflowError, TypeError):
    """Workflow code awaited something other than a ``WorkflowContext`` operation."""


class ActivityError(TrioflowError):
    """An activity failed for good (attempts exhausted or a non-retryable error).

    Raised into workflow code identically on the first run and on replay: it carries
    the original exception's type name and message, not the exception object.
    """

    def __init__(self, activity: str, type: str, message: str, attempts: int) -> None:
        self.activity = activity
        self.type = type
        self.message = message
        self.attempts = attempts
        super().__init__(
            f"activity {activity!r} failed after {attempts} attempt"
            f"{'' if attempts == 1 else 's'}: {type}: {message}"
        )


class EventTimeout(TrioflowError, TimeoutError):
    """No matching event arrived before the wait's timeout."""


class WorkflowCancelled(TrioflowError):
    """The instance was cancelled; raised at the workflow's current await."""

    def __init__(self, reason: str = "") -> None:
        self.reason = reason
        super().__init__(f"workflow cancelled: {reason}" if reason else "workflow cancelled")


class WorkflowFailed(TrioflowError):
    """The workflow raised; ``Runtime.result`` re-raises its outcome as this error."""

    def __init__(self, type: str, message: str) -> None:
        self.type = type
        self.message = message
        super().__init__(f"{type}: {message}")
