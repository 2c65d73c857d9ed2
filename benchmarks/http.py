"""HTTP starts: N `POST /workflows/{name}` through the API on loopback, `--concurrency` at once.

The workflow (`benchmarks/_bench_app.py`) runs one trivial activity; a request's answer (202)
comes once the instance's start is committed, so the figure is starts per second through the
HTTP stack, with the instances running alongside. The client keeps `--concurrency` HTTP/1.1
keep-alive connections, each sending its next request as soon as the last one is answered.
Latency runs from just before a request is sent to when its answer was read. Prints one JSON
line. A progress bar is shown on stderr when stderr is a terminal and `rich` is installed.

The client (`--client h11`, the default) speaks HTTP/1.1 with h11 over Trio sockets, sending the
same request headers as httpx: it costs about a quarter of what `httpx.AsyncClient` does per
request (`--client httpx`: one client of one connection each, the figures before 2026-11), whose
own cost capped this benchmark on a 2-core machine (the client alone took as much CPU per request
as the server it measured).

By default the server (`api.serve`, Hypercorn) and the client share this process and its one Trio
thread, so they take turns on one core: the figure is the cost of both. `--external` runs the
server as `python -m api serve benchmarks/_bench_app.py` in a process of its own (which logs
every request, as `trioflow serve` does), so that on a machine with two cores or more the server
is measured with a core to itself, as long as the client keeps up.

    python benchmarks/http.py [--n 5000] [--concurrency 64] [--external] [--client h11|httpx]
        [--db PATH]
"""

from __future__ import annotations

import os
import sys

# This file is named like the standard library's `http`, and running a script puts its folder
# first on the import path: `import http` (in httpx, werkzeug) would then find this file. The
# folder goes last instead, behind the standard library, where `_common` is still found.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE] + [_HERE]

import argparse  # noqa: E402
import collections  # noqa: E402
import contextlib  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import ssl  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.parse  # noqa: E402
from collections.abc import Awaitable, Callable  # noqa: E402
from typing import TYPE_CHECKING, Any  # noqa: E402

import h11  # noqa: E402
import httpx  # noqa: E402
import trio  # noqa: E402

from api import create_app, serve  # noqa: E402
from api._serve import load_app_module  # noqa: E402
from runtime import Runtime  # noqa: E402

if TYPE_CHECKING:  # mypy, run from the repository's root, names this folder `benchmarks`
    from benchmarks import _common
else:  # run as a script, this file's folder is last on the import path (see above)
    import _common

APP = os.path.join(_HERE, "_bench_app.py")
WORKFLOW = "bench_http_one"
READY_TIMEOUT = 30.0
REQUEST_TIMEOUT = 60.0
Post = Callable[[int], Awaitable[tuple[int, bytes]]]  # input -> (status, body)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Send N POST /workflows/{name} to the HTTP API on 127.0.0.1, CONCURRENCY at"
        " once over keep-alive connections, and print one JSON line: starts/s, p50/p99 request"
        " latency, errors, peak RSS."
    )
    _common.add_n_option(parser, 5000, "requests to send")
    _common.add_concurrency_option(
        parser, 64, "requests in flight at once, one per pooled connection"
    )
    parser.add_argument(
        "--external",
        action="store_true",
        help="run the server in a process of its own (python -m api serve) instead of in this one",
    )
    parser.add_argument(
        "--client",
        choices=("h11", "httpx"),
        default="h11",
        help="h11: HTTP/1.1 with h11 on Trio sockets (default); httpx: httpx.AsyncClient",
    )
    return _common.parse_n_and_concurrency(parser, argv)


class H11Connection:
    """One keep-alive HTTP/1.1 connection to the server, spoken with h11: a lean client, so that
    the figure is the server's. It connects on first use and again after the server closed it."""

    def __init__(self, base_url: str) -> None:
        url = urllib.parse.urlsplit(base_url)
        assert url.hostname is not None and url.port is not None
        self._host, self._port = url.hostname, url.port
        self._headers = [
            ("Host", url.netloc),
            ("Accept", "*/*"),
            ("Accept-Encoding", "gzip, deflate"),
            ("Connection", "keep-alive"),
            ("User-Agent", "trioflow-bench (h11)"),
            ("Content-Type", "application/json"),
        ]
        self._stream: trio.SocketStream | None = None
        self._http = h11.Connection(h11.CLIENT)

    async def post_json(self, target: str, value: Any) -> tuple[int, bytes]:
        body = json.dumps(value).encode()
        headers = [*self._headers, ("Content-Length", str(len(body)))]
        if self._stream is None:
            self._stream = await trio.open_tcp_stream(self._host, self._port)
            self._http = h11.Connection(h11.CLIENT)
        http, stream = self._http, self._stream
        try:
            data = http.send(h11.Request(method="POST", target=target, headers=headers))
            data += http.send(h11.Data(data=body)) + http.send(h11.EndOfMessage())
            await stream.send_all(data)
            status, answer = await self._response(http, stream)
        except BaseException:
            await self.aclose()
            raise
        if http.our_state is h11.DONE and http.their_state is h11.DONE:
            http.start_next_cycle()
        else:  # the server closes the connection (Connection: close): open another next time
            await self.aclose()
        return status, answer

    @staticmethod
    async def _response(http: h11.Connection, stream: trio.SocketStream) -> tuple[int, bytes]:
        status = 0
        chunks: list[bytes] = []
        while True:
            event = http.next_event()
            if event is h11.NEED_DATA:
                http.receive_data(await stream.receive_some(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return status, b"".join(chunks)
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionResetError("the server closed the connection before answering")

    async def aclose(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            await stream.aclose()


async def _h11_posters(
    stack: contextlib.AsyncExitStack, base_url: str, concurrency: int
) -> list[Post]:
    target = f"/workflows/{WORKFLOW}"
    connections = [H11Connection(base_url) for _ in range(concurrency)]
    for connection in connections:
        stack.push_async_callback(connection.aclose)
    return [functools.partial(c.post_json, target) for c in connections]


async def _httpx_posters(
    stack: contextlib.AsyncExitStack, base_url: str, concurrency: int
) -> list[Post]:
    # One client of one keep-alive connection per worker: together a pool of `concurrency`
    # connections. A single pool that size costs more than the server: httpcore 1.0's pool walks
    # every connection on each request (about two thirds of the process's CPU at 64).
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    # Never used (plain HTTP), but each client would otherwise build one and load the CA bundle.
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    clients = [
        await stack.enter_async_context(
            httpx.AsyncClient(base_url=base_url, limits=limits, timeout=REQUEST_TIMEOUT, verify=tls)
        )
        for _ in range(concurrency)
    ]

    def poster(client: httpx.AsyncClient) -> Post:
        async def post(value: int) -> tuple[int, bytes]:
            response = await client.post(f"/workflows/{WORKFLOW}", json=value)
            return response.status_code, response.content

        return post

    return [poster(client) for client in clients]


# What a failed request may raise: transport errors of either client, and h11's protocol errors.
_REQUEST_ERRORS = (
    httpx.HTTPError,
    OSError,
    trio.BrokenResourceError,
    trio.TooSlowError,
    h11.ProtocolError,
)


async def _drive(base_url: str, n: int, concurrency: int, client: str) -> dict[str, Any]:
    """Send N starts from `concurrency` workers, measure, then check one instance's result."""
    latencies: list[float] = []
    errors: collections.Counter[str] = collections.Counter()
    next_request = iter(range(n))
    last_id: list[str] = []
    make_posters = _h11_posters if client == "h11" else _httpx_posters
    async with contextlib.AsyncExitStack() as stack:
        posters = await make_posters(stack, base_url, concurrency)
        with _common.progress("requests", n) as advance:

            async def worker(post: Post) -> None:
                for i in next_request:  # shared: each request is taken by one worker
                    began = time.perf_counter()
                    try:
                        with trio.fail_after(REQUEST_TIMEOUT):
                            status, body = await post(i)
                    except _REQUEST_ERRORS as exc:
                        errors[type(exc).__name__] += 1
                    else:
                        latencies.append(time.perf_counter() - began)
                        if status == 202:
                            last_id[:] = [json.loads(body)["instance_id"]]
                        else:
                            errors[str(status)] += 1
                    advance()

            began = time.perf_counter()
            async with trio.open_nursery() as nursery:
                for post in posters:
                    nursery.start_soon(worker, post)
            seconds = time.perf_counter() - began
    if last_id:  # the starts did start something that runs: one result, end to end
        async with httpx.AsyncClient(base_url=base_url, timeout=REQUEST_TIMEOUT) as checker:
            answer = await checker.get(f"/instances/{last_id[0]}/result", params={"wait": "30"})
        if answer.status_code != 200 or answer.json().get("status") != "completed":
            raise AssertionError(f"instance {last_id[0]} answered {answer.text}")
    started = n - sum(errors.values())
    return {
        "n": n,
        "concurrency": concurrency,
        "client": client,
        "seconds": round(seconds, 3),
        "starts_per_s": round(started / seconds, 1),
        **_common.p50_p99_ms(latencies),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
    }


async def _in_process(path: str, n: int, concurrency: int, client: str) -> dict[str, Any]:
    load_app_module(APP)
    async with Runtime.open(path) as runtime:
        app = create_app(runtime)
        stop = trio.Event()
        async with trio.open_nursery() as nursery:
            binds: list[str] = await nursery.start(
                functools.partial(serve, app, host="127.0.0.1", port=0, shutdown_trigger=stop.wait)
            )
            try:
                result = await _drive(binds[0], n, concurrency, client)
            finally:
                stop.set()
    return result


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _wait_ready(base_url: str, server: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        with trio.fail_after(READY_TIMEOUT):
            while True:
                if server.poll() is not None:
                    raise RuntimeError(f"the server exited with status {server.returncode}")
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/healthz")).status_code == 200:
                        return
                await trio.sleep(0.05)


def _external(path: str, n: int, concurrency: int, client: str) -> dict[str, Any]:
    port = _free_port()  # picked here, bound by the server: another process could race for it
    base_url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "api", "serve", APP, "--db", path, "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if k != "TRIOFLOW_TOKEN"}
    with tempfile.TemporaryDirectory() as tmp:  # the server's working folder and its log
        log_path = os.path.join(tmp, "server.log")
        with open(log_path, "wb") as log:
            server = subprocess.Popen(command, cwd=tmp, stdout=log, stderr=log, env=env)
        try:
            try:
                trio.run(_wait_ready, base_url, server)
            except (RuntimeError, TimeoutError) as exc:
                with open(log_path, errors="replace") as log_text:
                    tail = log_text.read()[-2000:]
                raise SystemExit(f"http.py: the server did not come up ({exc}):\n{tail}") from None
            result = trio.run(_drive, base_url, n, concurrency, client)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    # The largest waited-for child is the server: its peak RSS.
    result["server_peak_rss_mb"] = _common.peak_rss_mb(resource.RUSAGE_CHILDREN)
    return result


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    with _common.database_path(args.db, "http.db") as path:
        if args.external:
            result = _external(path, args.n, args.concurrency, args.client)
        else:
            result = trio.run(_in_process, path, args.n, args.concurrency, args.client)
    mode = {"mode": "external" if args.external else "in-process"}
    rss = {"peak_rss_mb": _common.peak_rss_mb()}
    _common.print_json_line({"benchmark": "http", **mode, **result, **rss})


if __name__ == "__main__":
    main()
