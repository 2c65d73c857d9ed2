"""Takeover: two `trioflow serve` processes on one PostgreSQL database; one is SIGKILLed with
K unfinished instances it owns; how long until the other has them all running again.

The first server starts K instances of a workflow that runs one activity and then waits for an
event (`_takeover_app.py`); once all K wait, it is SIGKILLed. The other claims them once the
killed one is gone (its sessions ended and three of its half-second renewals missed: not its
whole lease, see `runtime/store/_postgres_owners.py`; it looks every second) and replays
every journal: the figure is the time from the kill until its `/metrics` count K resident
instances, all waiting again. Prints one JSON line.

    python benchmarks/takeover.py --db postgresql://user@host/db [--k 1000] [--lease 10]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

HERE = os.path.dirname(os.path.abspath(__file__))
# This folder holds `http.py`, which must not shadow the standard library's `http` (that
# urllib imports): it goes last on the import path.
if sys.path and os.path.abspath(sys.path[0]) == HERE:
    sys.path.append(sys.path.pop(0))

import urllib.error  # noqa: E402
import urllib.request  # noqa: E402

if TYPE_CHECKING:  # mypy, run from the repository's root, names this folder `benchmarks`
    from benchmarks import _common
else:
    import _common

ROOT = os.path.dirname(HERE)
APP = os.path.join(HERE, "_takeover_app.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(url: str, port: int, lease: float, log: Any) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": ROOT}
    command = [sys.executable, "-m", "api", "serve", APP, "--db", url, "--port", str(port)]
    return subprocess.Popen(
        [*command, "--lease", str(lease)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )


def _get(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as answer:
        return json.loads(answer.read())


def _wait_healthy(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            _get(port, "/healthz")
            return
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _start(port: int, k: int) -> None:
    import concurrent.futures

    def one(n: int) -> None:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/workflows/takeover_parked",
            data=str(n).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 202

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(one, range(k)))


def _count(port: int, status: str) -> int:
    total, cursor = 0, None
    while True:
        query = f"/instances?status={status}&limit=500" + (f"&cursor={cursor}" if cursor else "")
        page = _get(port, query)
        total += len(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return total


def _resident(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as answer:
        for line in answer.read().decode().splitlines():
            if line.startswith("trioflow_resident_instances "):
                return int(float(line.split()[1]))
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="a postgresql:// URL (a schema is made)")
    parser.add_argument("--k", type=int, default=1000, help="unfinished instances (default 1000)")
    parser.add_argument(
        "--lease", type=float, default=10.0, help="the servers' --lease (default 10 s)"
    )
    args = parser.parse_args(argv)
    if not _common.is_postgres_url(args.db) or args.k < 1 or args.lease <= 0:
        parser.error("--db must be a postgresql:// URL, --k >= 1 and --lease > 0")
    first_port, second_port = _free_port(), _free_port()
    with _common.fresh_schema(args.db) as url, open(os.devnull, "wb") as quiet:
        first = _serve(url, first_port, args.lease, quiet)
        second = None
        try:
            _wait_healthy(first_port, 60)
            second = _serve(url, second_port, args.lease, quiet)
            _wait_healthy(second_port, 60)
            _start(first_port, args.k)
            deadline = time.monotonic() + 300
            while _count(first_port, "waiting") < args.k:
                if time.monotonic() > deadline:
                    raise TimeoutError("the instances did not all reach their wait in 300 s")
                time.sleep(0.05)
            killed_at = time.monotonic()
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
            deadline = killed_at + 10 * args.lease + 300
            while _resident(second_port) < args.k:
                if time.monotonic() > deadline:
                    raise TimeoutError("the other server did not take every instance over")
                time.sleep(0.01)
            seconds = time.monotonic() - killed_at
            recovered = _count(second_port, "waiting")
        finally:
            for process in (first, second):
                if process is not None and process.poll() is None:
                    process.terminate()
                    process.wait()
    _common.print_json_line(
        {
            "benchmark": "takeover",
            "k": args.k,
            "lease_s": args.lease,
            "takeover_s": round(seconds, 3),
            "waiting_after": recovered,
        }
    )


if __name__ == "__main__":
    main()
