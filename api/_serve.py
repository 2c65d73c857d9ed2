"""Serving the app with Hypercorn on Trio, and the one ``run()`` that wires everything."""

from __future__ import annotations

import gc
import importlib
import importlib.util
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import trio
from hypercorn.config import Config
from hypercorn.trio import serve as hypercorn_serve

from runtime import Runtime

from ._connection import install as install_connection

_log = logging.getLogger("trioflow")

ShutdownTrigger = Callable[[], Awaitable[None]]


async def serve(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 8001,
    shutdown_trigger: ShutdownTrigger | None = None,
    graceful_timeout: float = 10.0,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` until ``shutdown_trigger`` returns; then stop accepting connections
    and let in-flight requests finish (for at most ``graceful_timeout`` seconds).

    ``task_status.started`` receives the bound addresses (port 0 picks a free port).
    """
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.graceful_timeout = graceful_timeout
    config.accesslog = None  # the app logs each request itself, with its request id
    config.errorlog = logging.getLogger("hypercorn.error")
    install_connection()
    await hypercorn_serve(app, config, shutdown_trigger=shutdown_trigger, task_status=task_status)


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
    shutdown_trigger: ShutdownTrigger | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Load the user's module, open the runtime, serve until a signal, shut down gracefully.

    The module registers its workflows by importing them (``@workflow``). It may define
    ``routes(app, runtime)`` to add its own routes to the app before serving.
    """
    from ._app import create_app

    # The service owns its process, so it may tune the collector: the default first
    # threshold (700) makes a busy runtime spend much of its time in collections of its
    # resident actors.
    gc.set_threshold(50_000, 50, 100)
    module = load_app_module(target)
    token = token or os.environ.get("TRIOFLOW_TOKEN") or None
    async with Runtime.open(db) as runtime:
        app = create_app(runtime, token=token)
        gc.freeze()  # what exists now (modules, the app, recovered state) lives on
        extend = getattr(module, "routes", None)
        if callable(extend):
            extend(app, runtime)
        await serve(
            app,
            host=host,
            port=port,
            shutdown_trigger=shutdown_trigger or wait_for_signal,
            task_status=task_status,
        )
        _log.info("requests drained; committing pending journal appends and closing the store")
