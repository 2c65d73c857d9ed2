"""``GET /metrics``: the runtime's counters in the Prometheus text format.

Nothing is counted twice: at each scrape one collector reads ``Runtime.stats()`` and
turns it into metric families. Starts and completions are derived from the stored
instances (every instance ever started has a status; finished statuses are final),
so they survive restarts; the rest describes this process since it started.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector, CollectorRegistry

from runtime import STATUSES, Runtime

FINISHED = ("completed", "failed", "cancelled")
CONTENT_TYPE = CONTENT_TYPE_LATEST


class RuntimeCollector(Collector):
    """Reads the runtime's stats at scrape time."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def describe(self) -> Iterable[Metric]:
        return []  # registered without a trial collection: the runtime may not be running yet

    def collect(self) -> Iterable[Metric]:
        stats = self._runtime.stats()
        instances = GaugeMetricFamily(
            "trioflow_instances", "Workflow instances by status.", labels=["status"]
        )
        for status in sorted({*STATUSES, *stats.instances}):
            instances.add_metric([status], stats.instances.get(status, 0))
        yield instances
        yield CounterMetricFamily(
            "trioflow_instance_starts",
            "Workflow instances started (all stored instances).",
            value=sum(stats.instances.values()),
        )
        yield _counters(
            "trioflow_instance_completions",
            "Workflow instances that finished, by final status.",
            "status",
            {status: stats.instances.get(status, 0) for status in FINISHED},
        )
        yield _counters(
            "trioflow_activity_attempts",
            "Activity attempts this process finished, by outcome.",
            "outcome",
            {"completed": stats.activities_completed, "failed": stats.activities_failed},
        )
        yield GaugeMetricFamily(
            "trioflow_activities_in_flight",
            "Activity attempts running now.",
            value=stats.activities_in_flight,
        )
        journal = stats.journal
        yield SummaryMetricFamily(
            "trioflow_journal_batch_size",
            "Appends per journal transaction (group commit).",
            count_value=journal.batches,
            sum_value=journal.appends,
        )
        yield SummaryMetricFamily(
            "trioflow_journal_commit_seconds",
            "Time spent committing journal transactions.",
            count_value=journal.batches,
            sum_value=journal.commit_seconds,
        )
        yield CounterMetricFamily(
            "trioflow_journal_failed_batches",
            "Journal transactions that failed as a whole.",
            value=journal.failed_batches,
        )
        yield GaugeMetricFamily(
            "trioflow_storage_failing",
            "1 while the database takes no writes (journal transactions are retried), else 0.",
            value=int(stats.storage_failure is not None),
        )
        yield GaugeMetricFamily(
            "trioflow_journal_queued",
            "Appends waiting for their commit.",
            value=stats.journal_queued,
        )
        yield GaugeMetricFamily(
            "trioflow_mailbox_depth",
            "Messages queued in the mailboxes of resident instances.",
            value=stats.mailbox_depth,
        )
        routing = stats.routing
        yield _counters(
            "trioflow_routed_events",
            "Events for instances another process drives (a shared PostgreSQL database):"
            " forwarded from here, or delivered here.",
            "direction",
            {"forwarded": routing.events_forwarded, "delivered": routing.events_delivered},
        )
        yield _counters(
            "trioflow_routed_commands",
            "Cancels, resumes and incident resolutions for instances another process drives:"
            " posted from here, or applied here.",
            "direction",
            {"posted": routing.commands_posted, "applied": routing.commands_applied},
        )
        yield GaugeMetricFamily(
            "trioflow_resident_instances",
            "Workflow instances held in memory.",
            value=stats.resident,
        )


def _counters(name: str, text: str, label: str, counts: Mapping[str, int]) -> Metric:
    """A counter family with one sample per `counts` key, as the value of `label`."""
    family = CounterMetricFamily(name, text, labels=[label])
    for value, count in counts.items():
        family.add_metric([value], count)
    return family


def metrics_registry(runtime: Runtime) -> CollectorRegistry:
    """A registry of its own per app, so several apps (tests) never collide in the global one."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RuntimeCollector(runtime))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
