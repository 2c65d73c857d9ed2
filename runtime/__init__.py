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
from ._errors import StorageUnavailable as StorageUnavailable
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
from ._instance import InstanceBlocked as InstanceBlocked
from ._instance import InstancePage as InstancePage
from ._instance import ReplayReport as ReplayReport
from ._listing import RuntimeStats as RuntimeStats
from ._queries import replay_report as replay_report
from ._queries import resume_stored as resume_stored
from ._retention import DEFAULT_RETENTION as DEFAULT_RETENTION
from ._retention import PruneReport as PruneReport
from ._retention import prune_stored as prune_stored
from ._runs import Run as Run
from ._runtime import Runtime as Runtime
from .store import STATUSES as STATUSES
from .store import CheckReport as CheckReport
from .store import DatabaseLocked as DatabaseLocked
from .store import SqliteStore as SqliteStore
from .store import Store as Store
from .store import StoreError as StoreError
from .store import check_database as check_database
from .store import open_read_only as open_read_only

__all__ = [
    "DEFAULT_RETENTION",
    "STATUSES",
    "ActivityDefinition",
    "ActivityError",
    "ActivityInfo",
    "CheckReport",
    "DatabaseLocked",
    "Event",
    "EventTimeout",
    "Future",
    "HistoryItem",
    "IncidentNotFound",
    "IncidentResolved",
    "Instance",
    "InstanceBlocked",
    "InstanceConflict",
    "InstanceFinished",
    "InstanceNotFound",
    "InstancePage",
    "InvalidInput",
    "NonDeterminismError",
    "NotSuspended",
    "Overloaded",
    "PruneReport",
    "PublishResult",
    "Registry",
    "ReplayReport",
    "RetryPolicy",
    "Run",
    "Runtime",
    "RuntimeStats",
    "SqliteStore",
    "StorageUnavailable",
    "Store",
    "StoreError",
    "TrioflowError",
    "UnsupportedAwait",
    "WorkflowCancelled",
    "WorkflowContext",
    "WorkflowDefinition",
    "WorkflowFailed",
    "WorkflowNotFound",
    "activity",
    "check_database",
    "current_activity",
    "open_read_only",
    "prune_stored",
    "registry",
    "replay_report",
    "resume_stored",
    "tune_gc",
    "workflow",
]
