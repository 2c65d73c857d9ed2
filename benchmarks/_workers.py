"""Several processes running one benchmark's workload on one database, started together.

The parent (`run_workers`) starts each worker as a copy of the benchmark script with
``--worker K`` added, and waits until every one has said it is ready (prepared: its runtime
open, or found it must wait for one). Then it tells them all to go at once, on their stdin,
and collects the one JSON line each prints when its share is done. A worker that fails ends
the run with its exit status; the others are killed.

A worker (`wait_for_go`) prints `READY` on stdout and returns when the parent says go. Times
that the parent compares across workers are wall-clock times (``time.time()``): they all run
on one machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

READY = "ready"
GO = "go"


def share(n: int, processes: int, worker: int) -> range:
    """The inputs of `worker`'s share of instances 0 to n - 1: every `processes`-th one."""
    return range(worker, n, processes)


def run_workers(command: Sequence[str], processes: int) -> list[dict[str, Any]]:
    """Run `processes` copies of `command` (each with ``--worker K`` added), started together;
    each one's JSON result, in the order of K."""
    workers = [
        subprocess.Popen(
            [*command, "--worker", str(k)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for k in range(processes)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            said = worker.stdout.readline().strip()
            if said != READY:
                worker.wait()
                status = worker.returncode
                raise SystemExit(f"worker {worker.pid} did not start (exit status {status})")
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write(f"{GO}\n")
            worker.stdin.flush()
        results = []
        for worker in workers:
            output, _ = worker.communicate()
            if worker.returncode != 0:
                raise SystemExit(f"worker {worker.pid} failed (exit status {worker.returncode})")
            results.append(json.loads(output.strip().splitlines()[-1]))
        return results
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()


async def wait_for_go() -> None:
    """In a worker: tell the parent it is ready, and return when it says go."""
    import trio  # here, not above: the parent needs no Trio

    print(READY, flush=True)
    said = await trio.to_thread.run_sync(sys.stdin.readline)
    if said.strip() != GO:
        raise SystemExit("the parent went away before it said go")
