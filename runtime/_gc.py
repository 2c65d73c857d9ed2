"""``tune_gc``: collector settings for a process whose main work is a busy runtime."""

from __future__ import annotations

import gc

SERVICE_THRESHOLD = 50_000


def tune_gc(threshold: int = SERVICE_THRESHOLD) -> None:
    """Collect young objects every ``threshold`` allocations instead of every 700, and move
    everything that exists now (modules, definitions, recovered state) out of the collector's
    sight for good.

    Python's cyclic collector walks every tracked object it holds in each full collection, and
    starts young collections every 700 allocations net of frees. A runtime keeps thousands of
    resident actors (tens of objects each) and allocates a few hundred objects per instance,
    so with the defaults the collector takes a fifth to half of the process's time
    (``benchmarks/README.md``). Memory is still freed by reference counting as soon as it is
    unused; only reference cycles wait longer. ``trioflow serve`` calls this once the
    runtime is open; an application embedding the runtime may call it at the same point.
    Settings are process-wide: call it from the application, not from a library.
    """
    if threshold < 1:
        raise ValueError(f"threshold must be >= 1, got {threshold}")
    gc.set_threshold(threshold, 50, 100)
    gc.freeze()
