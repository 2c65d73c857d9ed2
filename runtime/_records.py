"""Journal records: small frozen classes, stored as kind + schema version + JSON.

A journal is a sequence of groups: one *input* record (something that happened to
the instance: it started, an activity finished, a timer fired, an event arrived, a
cancel was requested) followed by the *output* records the workflow core decided in
response (commands issued, or the outcome). Replay feeds the inputs back through the
core and checks that it decides the same outputs.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from ._convert import dumps, journal_hook, loads

# --- inputs -------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ErrorInfo:
    """An exception reduced to what survives a restart: its type name and message."""

    type: str
    message: str


@attrs.frozen(kw_only=True)
class WorkflowStarted:
    """The first record of a run. Run 1 starts the instance; a later run follows the
    ``WorkflowContinued`` that ended the one before, in the same append: its steps are
    numbered from ``first_step`` on (a late result for a step of the old run belongs to no
    step of the new one), and ``consumed`` names the stored events earlier runs took, so
    that a wait of this run does not take them again."""

    VERSION: ClassVar[int] = 1
    workflow: str
    input: Any
    seed: int
    version: str | None = None  # of the definition (a BPMN file's hash): kept for life
    run: int = 1
    first_step: int = 1
    consumed: list[list[str]] = attrs.field(factory=list)


@attrs.frozen(kw_only=True)
class ActivityCompleted:
    VERSION: ClassVar[int] = 1
    step: int
    attempt: int
    result: Any


@attrs.frozen(kw_only=True)
class ActivityFailed:
    """One attempt failed; ``retryable`` was decided by the executor from the policy."""

    VERSION: ClassVar[int] = 1
    step: int
    attempt: int
    error: ErrorInfo
    retryable: bool


@attrs.frozen(kw_only=True)
class TimerFired:
    """A timer of ``step`` is due: a sleep ends, a retry backoff ends, or a wait times out."""

    VERSION: ClassVar[int] = 1
    step: int


@attrs.frozen(kw_only=True)
class EventReceived:
    VERSION: ClassVar[int] = 1
    step: int
    event: Any


@attrs.frozen(kw_only=True)
class CancelRequested:
    VERSION: ClassVar[int] = 1
    reason: str


@attrs.frozen(kw_only=True)
class IncidentResolved:
    """The cause of incident ``step`` was fixed: ``variables`` are set, the work is retried."""

    VERSION: ClassVar[int] = 1
    step: int
    variables: dict[str, Any]


# --- outputs ------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ActivityScheduled:
    VERSION: ClassVar[int] = 1
    step: int
    name: str
    args: list[Any]
    kwargs: dict[str, Any]
    attempt: int


@attrs.frozen(kw_only=True)
class TimerStarted:
    """A durable timer; ``purpose`` is ``sleep``, ``retry`` or ``timeout``."""

    VERSION: ClassVar[int] = 1
    step: int
    fire_at: float
    purpose: str


@attrs.frozen(kw_only=True)
class WaitStarted:
    """``message``: a BPMN message subscription (an untargeted event goes to one of them per
    workflow, oldest first; it also takes an event buffered with a ``ttl``). Left out of
    equality, so journals written before it replay."""

    VERSION: ClassVar[int] = 1
    step: int
    type: str
    subject: str | None
    timeout_at: float | None
    message: bool = attrs.field(default=False, eq=False)


@attrs.frozen(kw_only=True)
class IncidentRaised:
    """The workflow cannot go on at ``element_id`` until the incident is resolved."""

    VERSION: ClassVar[int] = 1
    step: int
    element_id: str
    message: str


@attrs.frozen(kw_only=True)
class StepCancelled:
    """The workflow withdrew a pending operation (the loser of ``ctx.first``, say)."""

    VERSION: ClassVar[int] = 1
    step: int


@attrs.frozen(kw_only=True)
class WorkflowCompleted:
    VERSION: ClassVar[int] = 1
    output: Any


@attrs.frozen(kw_only=True)
class WorkflowFailed:
    VERSION: ClassVar[int] = 1
    error: ErrorInfo


@attrs.frozen(kw_only=True)
class WorkflowCancelled:
    VERSION: ClassVar[int] = 1
    reason: str


@attrs.frozen(kw_only=True)
class WorkflowContinued:
    """The run ended with ``ctx.continue_as_new``: run ``run`` starts with ``input``."""

    VERSION: ClassVar[int] = 1
    input: Any
    run: int


Input = (
    WorkflowStarted
    | ActivityCompleted
    | ActivityFailed
    | TimerFired
    | EventReceived
    | CancelRequested
    | IncidentResolved
)
Output = (
    ActivityScheduled
    | TimerStarted
    | WaitStarted
    | IncidentRaised
    | StepCancelled
    | WorkflowCompleted
    | WorkflowFailed
    | WorkflowCancelled
    | WorkflowContinued
)


@attrs.frozen(kw_only=True)
class Snapshot:
    """The whole state of an instance whose state is plain data (a BPMN process instance),
    written after the outputs of the input that led to it, in the same append
    (``_snapshot``): rehydration starts here and replays only the records after it. Neither
    an input nor an output: replaying the whole journal checks that it reproduces it."""

    VERSION: ClassVar[int] = 1
    state: dict[str, Any]


Record = Input | Output | Snapshot

INPUT_TYPES: tuple[type, ...] = (
    WorkflowStarted,
    ActivityCompleted,
    ActivityFailed,
    TimerFired,
    EventReceived,
    CancelRequested,
    IncidentResolved,
)
_TYPES: tuple[type, ...] = (
    *INPUT_TYPES,
    ActivityScheduled,
    TimerStarted,
    WaitStarted,
    IncidentRaised,
    StepCancelled,
    WorkflowCompleted,
    WorkflowFailed,
    WorkflowCancelled,
    WorkflowContinued,
    Snapshot,
)


def kind_of(cls: type) -> str:
    """``ActivityScheduled`` -> ``activity_scheduled``."""
    name = cls.__name__
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


_BY_KIND: dict[str, type] = {kind_of(t): t for t in _TYPES}
# The stored kind names the class, so decoding needs no tagged union: each class has its
# hook, which takes back what the runtime wrote as it was (``journal_hook``).
_DECODE = {t: journal_hook(t) for t in _TYPES}


class RecordDecodeError(ValueError):
    """A stored record has an unknown kind or a schema version newer than this code."""


_FIELDS: dict[type, tuple[str, tuple[str, ...]]] = {
    t: (kind_of(t), tuple(f.name for f in attrs.fields(t))) for t in _TYPES
}


def encode(record: Record) -> tuple[str, int, str]:
    """Return ``(kind, version, json)`` for storage; the kind is not repeated in the JSON.

    Hand-rolled rather than through the converter: it runs for every record written.
    Payload values are plain JSON data already; the one nested class is ``ErrorInfo``.
    """
    cls = type(record)
    kind, names = _FIELDS[cls]
    data = {name: getattr(record, name) for name in names}
    error = data.get("error")
    if isinstance(error, ErrorInfo):
        data["error"] = {"type": error.type, "message": error.message}
    return kind, cls.VERSION, dumps(data)


def decode(kind: str, version: int, data: str) -> Record:
    cls = _BY_KIND.get(kind)
    if cls is None:
        raise RecordDecodeError(f"unknown record kind {kind!r}")
    if version > cls.VERSION:  # type: ignore[attr-defined]
        raise RecordDecodeError(
            f"record kind {kind!r} has schema version {version}, this code knows up to "
            f"{cls.VERSION}"  # type: ignore[attr-defined]
        )
    record: Record = _DECODE[cls](loads(data), cls)
    return record


def is_input(record: Record) -> bool:
    return isinstance(record, INPUT_TYPES)
