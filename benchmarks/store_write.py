"""Journal write throughput: 20,000 appends of 2 records each through `JournalWriter`, 500
appending at once, on a fresh SQLite file with synchronous=normal and with synchronous=full.

Prints one JSON line. Usage: python benchmarks/store_write.py [DIRECTORY]  (default: a
temporary directory; put it on the disk you care about, since fsync cost is the point of "full").
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from typing import TYPE_CHECKING, Any

import trio

from runtime._journal import JournalWriter
from runtime.store import Append, NewInstance, SqliteStore, StoredRecord, Summary

if TYPE_CHECKING:  # mypy, run from the repository's root, names this folder `benchmarks`
    from benchmarks import _common
else:  # run as a script, this file's folder comes first on the import path
    import _common

APPENDS = 20_000
RECORDS_PER_APPEND = 2
CONCURRENCY = 500
PAYLOAD = json.dumps({"activity": "charge", "args": ["A-1", 9.99], "result": "txn-0123456789"})


async def _client(writer: JournalWriter, instance_id: str, appends: int) -> None:
    seq = 0
    for n in range(appends):
        now = time.time()
        records = tuple(
            StoredRecord(seq=seq + i, kind="activity-completed", version=1, at=now, data=PAYLOAD)
            for i in range(1, RECORDS_PER_APPEND + 1)
        )
        seq += RECORDS_PER_APPEND
        new = NewInstance(workflow="bench", input=PAYLOAD, created_at=now) if n == 0 else None
        summary = Summary(status="running", updated_at=now)
        await writer.append(
            Append(instance_id=instance_id, records=records, summary=summary, new=new)
        )


async def _measure(path: str, synchronous: Any) -> dict[str, Any]:
    with SqliteStore(path, synchronous=synchronous) as store:
        writer = JournalWriter(store)
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            began = time.perf_counter()
            async with trio.open_nursery() as clients:
                for n in range(CONCURRENCY):
                    clients.start_soon(_client, writer, f"bench-{n}", APPENDS // CONCURRENCY)
            elapsed = time.perf_counter() - began
            writer.close()
    stats = writer.stats
    return {
        "appends_per_s": round(APPENDS / elapsed),
        "records_per_s": round(APPENDS * RECORDS_PER_APPEND / elapsed),
        "seconds": round(elapsed, 3),
        "batches": stats.batches,
        "mean_batch": round(stats.appends / stats.batches, 1),
        "commit_ms_per_batch": round(1000 * stats.commit_seconds / stats.batches, 2),
    }


async def main(directory: str | None) -> None:
    result: dict[str, Any] = {
        "benchmark": "store_write",
        "appends": APPENDS,
        "records_per_append": RECORDS_PER_APPEND,
        "concurrency": CONCURRENCY,
    }
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        for synchronous in ("normal", "full"):
            path = os.path.join(tmp, f"{synchronous}.db")
            result[synchronous] = await _measure(path, synchronous)
    _common.print_json_line(result)


if __name__ == "__main__":
    trio.run(main, sys.argv[1] if len(sys.argv) > 1 else None)
