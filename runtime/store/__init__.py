"""Where journals live: the `Store` interface, the rows it moves, its SQLite implementation
and its PostgreSQL one (`PostgresStore`, loaded on first use: it needs the psycopg driver)."""

from typing import TYPE_CHECKING, Any

from ._database import check_database as check_database
from ._database import is_postgres_url as is_postgres_url
from ._database import open_read_only as open_read_only
from ._database import open_store as open_store
from ._database import upgrade_database as upgrade_database
from ._filelock import DatabaseLocked as DatabaseLocked
from ._interface import STATUSES as STATUSES
from ._interface import TERMINAL as TERMINAL
from ._interface import Append as Append
from ._interface import DeleteInstances as DeleteInstances
from ._interface import DuplicateEvent as DuplicateEvent
from ._interface import DuplicateEvents as DuplicateEvents
from ._interface import EventBatch as EventBatch
from ._interface import EventRow as EventRow
from ._interface import InstanceExists as InstanceExists
from ._interface import InstanceRow as InstanceRow
from ._interface import MessageTaken as MessageTaken
from ._interface import NewInstance as NewInstance
from ._interface import NewRun as NewRun
from ._interface import NotOwner as NotOwner
from ._interface import Owner as Owner
from ._interface import Page as Page
from ._interface import PurgeEvents as PurgeEvents
from ._interface import SequenceConflict as SequenceConflict
from ._interface import SharedStore as SharedStore
from ._interface import Store as Store
from ._interface import StoredRecord as StoredRecord
from ._interface import StoreError as StoreError
from ._interface import Summary as Summary
from ._interface import TimerRow as TimerRow
from ._interface import UnknownInstance as UnknownInstance
from ._interface import WaitRow as WaitRow
from ._interface import Write as Write
from ._sqlite import SqliteStore as SqliteStore
from ._sqlite_check import CheckReport as CheckReport

__all__ = [
    "STATUSES",
    "TERMINAL",
    "Append",
    "CheckReport",
    "DatabaseLocked",
    "DeleteInstances",
    "DuplicateEvent",
    "DuplicateEvents",
    "EventBatch",
    "EventRow",
    "InstanceExists",
    "InstanceRow",
    "MessageTaken",
    "NewInstance",
    "NewRun",
    "NotOwner",
    "Owner",
    "Page",
    "PostgresStore",
    "PurgeEvents",
    "SequenceConflict",
    "SharedStore",
    "SqliteStore",
    "Store",
    "StoreError",
    "StoredRecord",
    "Summary",
    "TimerRow",
    "UnknownInstance",
    "WaitRow",
    "Write",
    "check_database",
    "is_postgres_url",
    "open_read_only",
    "open_store",
    "upgrade_database",
]

if TYPE_CHECKING:
    from ._postgres import PostgresStore as PostgresStore


def __getattr__(name: str) -> Any:
    if name == "PostgresStore":  # imported on use: psycopg is an optional dependency
        from ._database import postgres_store

        return postgres_store()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
