"""Latency of the starts a loaded server accepts, seen by a client that arrives now and then.

    python benchmarks/probe.py --url http://127.0.0.1:8011 [--seconds 10] [--rate 20]

Meant to run beside wrk (``benchmarks/README.md``, "Overload"): wrk reports the latency of
every answer, 503s included, and cannot tell them apart. The probe sends ``--rate`` starts a
second, each on a new connection (a new client: the time it waits to be accepted counts),
and prints one JSON line: how many got which status, and p50/p99 from connecting to the end
of the answer of the accepted ones (202), and the errors (a connection refused, reset or
closed without an answer).
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time
import urllib.parse

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE] + [_HERE]

import _common  # noqa: E402
import h11  # noqa: E402
import trio  # noqa: E402


async def _one(host: str, port: int, n: int) -> tuple[int | str, float]:
    began = time.perf_counter()
    body = b"%d" % n
    http = h11.Connection(h11.CLIENT)
    headers = [("Host", host), ("Content-Type", "application/json")]
    headers.append(("Content-Length", str(len(body))))
    request = h11.Request(method="POST", target="/workflows/bench_http_one", headers=headers)
    data = http.send(request) + http.send(h11.Data(data=body)) + http.send(h11.EndOfMessage())
    try:
        with trio.fail_after(30):
            async with await trio.open_tcp_stream(host, port) as stream:
                await stream.send_all(data)
                status = 0
                while True:
                    event = http.next_event()
                    if event is h11.NEED_DATA:
                        http.receive_data(await stream.receive_some())
                    elif isinstance(event, h11.Response):
                        status = event.status_code
                    elif isinstance(event, h11.EndOfMessage):
                        return status, time.perf_counter() - began
    except (OSError, trio.BrokenResourceError, trio.TooSlowError, h11.RemoteProtocolError) as exc:
        return type(exc).__name__, time.perf_counter() - began


async def probe(url: str, seconds: float, rate: float) -> dict[str, object]:
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    results: list[tuple[int | str, float]] = []

    with _common.progress("probe starts", max(1, round(seconds * rate))) as advance:

        async def record(n: int) -> None:
            results.append(await _one(host, port, n))
            advance()

        async with trio.open_nursery() as nursery:
            start = trio.current_time()
            n = 0
            while trio.current_time() - start < seconds:
                nursery.start_soon(record, n)
                n += 1
                await trio.sleep_until(start + n / rate)
    accepted = [elapsed for status, elapsed in results if status == 202]
    counts = collections.Counter(str(status) for status, _ in results)
    return {
        "benchmark": "probe",
        "sent": len(results),
        "statuses": dict(sorted(counts.items())),
        **(_common.p50_p99_ms(accepted, "accepted_") if accepted else {}),
        "errors": sum(count for status, count in counts.items() if not status.isdigit()),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8011")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=20.0, help="starts a second")
    args = parser.parse_args(argv)
    _common.print_json_line(trio.run(probe, args.url, args.seconds, args.rate))


if __name__ == "__main__":
    main()
