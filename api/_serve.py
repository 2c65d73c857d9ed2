"""Serving the app with Hypercorn on Trio, and the one ``run()`` that wires everything."""

from __future__ import annotations

import gc
import importlib
import importlib.util
import ipaddress
import logging
import os
import resource
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import trio
from hypercorn.config import Config
from hypercorn.utils import wrap_app

from runtime import DEFAULT_RETENTION, Runtime
from runtime.store import SharedStore, StoreError, is_postgres_url, open_store

from ._app import MAX_STARTS
from ._fast_path import connection_class
from ._listener import Listener

_log = logging.getLogger("trioflow")

ShutdownTrigger = Callable[[], Awaitable[None]]
MAX_CONNECTIONS = 1000
BACKLOG = 4096


async def serve(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 8001,
    shutdown_trigger: ShutdownTrigger | None = None,
    graceful_timeout: float = 10.0,
    max_connections: int = MAX_CONNECTIONS,
    backlog: int = BACKLOG,
    fast_path: bool | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` until ``shutdown_trigger`` returns; then stop accepting connections,
    answer every request already sent (finished, or 503 to the connections still queued)
    and close idle connections, for at most ``graceful_timeout`` seconds.

    Connections beyond ``max_connections`` open at once are answered 503 with
    ``Retry-After`` and closed; ``backlog`` is the listen queue's length (the kernel caps
    it at ``net.core.somaxconn``). ``fast_path`` (default: ``$TRIOFLOW_FAST_PATH``, else
    on) serves connections with ``_connection.Connection`` where the installed Hypercorn is
    one it was written for (``_fast_path``). ``task_status.started`` receives the bound addresses
    (port 0 picks a free port).
    """
    if max_connections < 1:
        raise ValueError("max_connections must be >= 1")
    if backlog < 1:
        raise ValueError("backlog must be >= 1")
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.graceful_timeout = graceful_timeout
    config.backlog = backlog
    config.accesslog = None  # the app logs each request itself, with its request id
    config.errorlog = logging.getLogger("hypercorn.error")
    connection = connection_class(fast_path)
    asgi = wrap_app(app, config.wsgi_max_body_size, None)
    listener = Listener(asgi, config, max_connections, connection=connection)
    await listener.serve(shutdown_trigger or trio.sleep_forever, task_status=task_status)


async def wait_for_signal() -> None:
    """A shutdown trigger: returns on SIGINT or SIGTERM."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            _log.info("received %s: shutting down", signal.Signals(signum).name)
            return


def load_app_module(target: str) -> ModuleType:
    """Import the user's workflows from a file path (``app.py``) or a module name."""
    path = Path(target)
    if target.endswith(".py") or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"no such file: {target}")
        name = path.stem
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {target}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        sys.path.insert(0, str(path.resolve().parent))
        spec.loader.exec_module(module)
        return module
    return importlib.import_module(target)


async def run(
    target: str,
    *,
    db: str = "trioflow.db",
    host: str = "127.0.0.1",
    port: int = 8001,
    token: str | None = None,
    max_connections: int = MAX_CONNECTIONS,
    max_starts: int = MAX_STARTS,
    backlog: int = BACKLOG,
    graceful_timeout: float = 10.0,
    check: bool = True,
    fast_path: bool | None = None,
    standby: bool = False,
    lease: float | None = None,
    poll_interval: float = 1.0,
    retention: float | None = DEFAULT_RETENTION,
    archive: str | None = None,
    shutdown_trigger: ShutdownTrigger | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Load the user's module, open the runtime, serve until a signal, shut down gracefully.

    The module registers its workflows by importing them (``@workflow``). It may define
    ``routes(app, runtime)`` to add its own routes to the app before serving. ``token``
    (default: ``$TRIOFLOW_TOKEN``) must not be empty; without one every route is open.
    ``check=False`` skips SQLite's ``quick_check`` of the file at open (one read of it).
    ``fast_path=False`` (default: ``$TRIOFLOW_FAST_PATH``, else on) serves every request
    the stock way, through Hypercorn's connection class and Quart (``_fast_path``).
    On a PostgreSQL database several servers serve at once, each driving the instances it
    owns; ``lease`` (default 10 s) is how long after a server was paused or cut off the
    others take its instances over (those of a killed one, within about two seconds).
    ``standby`` is deprecated and does nothing (it made a server wait for another's end; now
    both serve). ``poll_interval`` (seconds) bounds how
    late an event or a command sent to another server reaches this one when its notification
    is lost. ``retention`` (seconds; None: forever) and ``archive`` are ``Runtime.open``'s.
    """
    from ._app import create_app

    token = serving_token(token, host)
    # The service owns its process, so it may tune the collector: the default first
    # threshold (700) makes a busy runtime spend much of its time in collections of its
    # resident actors.
    gc.set_threshold(50_000, 50, 100)
    max_connections = _fit_open_files(max_connections)
    module = load_app_module(target)
    if standby:
        _log.warning(
            "--standby is deprecated and does nothing: every server on a PostgreSQL database"
            " serves, and takes over the instances of one that stops"
        )
        if not is_postgres_url(db):
            raise ValueError("--standby needs a PostgreSQL database (--db postgresql://...)")
    store = open_store(db, check=check, lease=lease)
    async with Runtime.open(
        db, store=store, retention=retention, archive=archive, poll_interval=poll_interval
    ) as runtime:
        app = create_app(runtime, token=token, max_starts=max_starts, fast_path=fast_path)
        extend = getattr(module, "routes", None)
        if callable(extend):
            extend(app, runtime)
        gc.freeze()  # what exists now (modules, the app, recovered state) lives on

        async def serving(*, task_status: trio.TaskStatus[list[str]]) -> None:
            await serve(
                app,
                host=host,
                port=port,
                shutdown_trigger=shutdown_trigger or wait_for_signal,
                graceful_timeout=graceful_timeout,
                max_connections=max_connections,
                backlog=backlog,
                fast_path=fast_path,
                task_status=task_status,
            )

        async with trio.open_nursery() as nursery:
            bound = await nursery.start(serving)
            if isinstance(store, SharedStore) and bound:
                # Where this server answers, for the others sharing the database to show.
                try:
                    await trio.to_thread.run_sync(store.advertise, bound[0])
                except StoreError as exc:  # only for display: serve on
                    _log.warning("cannot tell the other servers this one's address: %s", exc)
            task_status.started(bound)
        _log.info("requests drained; committing pending journal appends and closing the store")


def serving_token(token: str | None, host: str) -> str | None:
    """The token to serve ``host`` with: ``token``, else ``$TRIOFLOW_TOKEN``, else none
    (with a warning in the log unless ``host`` is a loopback address). An empty or blank
    token is refused: it would look like a token and leave every route open."""
    if token is None:
        token = os.environ.get("TRIOFLOW_TOKEN")
    if token is not None and not token.strip():
        raise ValueError(
            "the bearer token is empty (--token, --token-file or TRIOFLOW_TOKEN):"
            " give a token, or none at all to serve every route open"
        )
    if token is None and not _loopback(host):
        _log.warning(
            "serving %s without a token: anyone who can reach it may start, cancel and"
            " read instances (--token-file or TRIOFLOW_TOKEN sets one)",
            host,
        )
    return token


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


_SPARE_FILES = 64  # the database, its WAL and lock, logs, worker threads' files


def _fit_open_files(max_connections: int) -> int:
    """Raise this process's open-file limit to fit ``max_connections`` (up to the hard
    limit); when it cannot, serve fewer connections and say so."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max_connections + _SPARE_FILES
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
        soft = raised
    if soft != resource.RLIM_INFINITY and soft < wanted:
        fitted = max(1, soft - _SPARE_FILES)
        _log.warning(
            "the open-file limit (%d) fits %d connections, not %d: serving at most %d",
            soft,
            fitted,
            max_connections,
            fitted,
        )
        return fitted
    return max_connections
