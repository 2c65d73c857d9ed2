"""The packages' public faces are exactly the intended names."""

from __future__ import annotations

import api
import runtime


def test_runtime_public_names() -> None:
    assert set(runtime.__all__) == {
        "DEFAULT_RETENTION", "ActivityDefinition", "ActivityError", "ActivityInfo",
        "CheckReport", "DatabaseLocked",
        "Event", "EventTimeout", "Future",
        "HistoryItem", "IncidentNotFound", "IncidentResolved", "Instance", "InstanceBlocked",
        "InstanceConflict", "InstanceFinished",
        "InstanceNotFound", "InstancePage", "InvalidInput", "NonDeterminismError",
        "NotSuspended", "Overloaded", "PruneReport", "PublishResult", "Registry", "ReplayReport",
        "RetryPolicy", "Run", "Runtime", "RuntimeStats", "STATUSES", "SqliteStore",
        "StorageUnavailable",
        "Store", "StoreError", "TrioflowError",
        "UnsupportedAwait",
        "WorkflowCancelled", "WorkflowContext", "WorkflowDefinition", "WorkflowFailed",
        "WorkflowNotFound", "activity", "check_database", "current_activity", "open_read_only",
        "prune_stored",
        "registry", "replay_report", "resume_stored", "tune_gc",
        "workflow",
    }  # fmt: skip
    assert all(hasattr(runtime, name) for name in runtime.__all__)


def test_api_public_names() -> None:
    assert set(api.__all__) == {"HTTPProblem", "create_app", "read_json", "run", "serve"}
    assert all(hasattr(api, name) for name in api.__all__)
