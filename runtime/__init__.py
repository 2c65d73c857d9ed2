"""trioflow's durable workflow runtime."""

from ._context import Future as Future
from ._context import WorkflowContext as WorkflowContext
from ._definitions import ActivityDefinition as ActivityDefinition
from ._definitions import Registry as Registry
from ._definitions import RetryPolicy as RetryPolicy
from ._definitions import WorkflowDefinition as WorkflowDefinition
from ._definitions import activity as activity
from ._definitions import registry as registry
from ._definitions import workflow as workflow
from ._errors import ActivityError as ActivityError
from ._errors import EventTimeout as EventTimeout
from ._errors import IncidentNotFound as IncidentNotFound
from ._errors import IncidentResolved as IncidentResolved
from ._errors import InstanceConflict as InstanceConflict
from ._errors import InstanceFinished as InstanceFinished
from ._errors import InstanceNotFound as InstanceNotFound
from ._errors import InvalidInput as InvalidInput
from ._errors import NonDeterminismError as NonDeterminismError
from ._errors import NotSuspended as NotSuspended
from ._errors import Overloaded as Overloaded
from ._errors import TrioflowError as TrioflowError
from ._errors import UnsupportedAwait as UnsupportedAwait
from ._errors import WorkflowCancelled as WorkflowCancelled
from ._errors import WorkflowFailed as WorkflowFailed
from ._errors import WorkflowNotFound as WorkflowNotFound
from ._event import Event as Event
from ._events import PublishResult as PublishResult
from ._executor import ActivityInfo as ActivityInfo
from ._executor import current_activity as current_activity
from ._gc import tune_gc as tune_gc
from ._instance import HistoryItem as HistoryItem
from ._instance import Instance as Instance
from ._instance import InstancePage as InstancePage
from ._instance import ReplayReport as ReplayReport
from ._runtime import Runtime as Runtime
from ._runtime import RuntimeStats as RuntimeStats
from ._store import STATUSES as STATUSES

__all__ = [
    "STATUSES",
    "ActivityDefinition",
    "ActivityError",
    "ActivityInfo",
    "Event",
    "EventTimeout",
    "Future",
    "HistoryItem",
    "IncidentNotFound",
    "IncidentResolved",
    "Instance",
    "InstanceConflict",
    "InstanceFinished",
    "InstanceNotFound",
    "InstancePage",
    "InvalidInput",
    "NonDeterminismError",
    "NotSuspended",
    "Overloaded",
    "PublishResult",
    "Registry",
    "ReplayReport",
    "RetryPolicy",
    "Runtime",
    "RuntimeStats",
    "TrioflowError",
    "UnsupportedAwait",
    "WorkflowCancelled",
    "WorkflowContext",
    "WorkflowDefinition",
    "WorkflowFailed",
    "WorkflowNotFound",
    "activity",
    "current_activity",
    "registry",
    "tune_gc",
    "workflow",
]
