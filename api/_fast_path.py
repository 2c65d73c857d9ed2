"""Whether the HTTP fast path serves, decided in one place.

The fast path is two parts that build on library internals: ``_connection.Connection`` (a
subclass of Hypercorn's Trio ``TCPServer``) and ``_start_route.StartRoute`` (which compares
Quart's hooks, handlers and URL map to what ``create_app`` set up). Each is used only on the
library releases it was written and tested against (``HYPERCORN``; ``QUART`` and
``WERKZEUG``); on any other release the stock path serves (Hypercorn's own connection, every
request through Quart) and the log says so once per server or app. Neither part changes a
library's module globals: the connection class is handed to ``_listener.Listener`` and the
start route wraps one app's ASGI callable.

It is on by default. ``fast_path=False`` (``serve``, ``create_app``, ``run``),
``trioflow serve --no-fast-path`` or ``TRIOFLOW_FAST_PATH=0`` turns it off; answers are the
same either way (``tests/`` runs the HTTP contract on both paths), only slower.
"""

from __future__ import annotations

import logging
import os
from importlib.metadata import PackageNotFoundError, version

from hypercorn.trio.tcp_server import TCPServer

from ._connection import Connection

_log = logging.getLogger("trioflow")

ENV = "TRIOFLOW_FAST_PATH"
HYPERCORN = ((0, 17), (0, 18))
"""The Hypercorn release series whose ``TCPServer`` ``Connection`` was written against."""
QUART = ((0, 20), (0, 21), (0, 22))
"""The Quart release series whose app internals ``StartRoute`` compares."""
WERKZEUG = ((3, 0), (3, 1))
"""The Werkzeug release series whose URL map ``StartRoute`` asks (and counts the rules of)."""
_ON = frozenset({"1", "on", "true", "yes"})
_OFF = frozenset({"0", "off", "false", "no"})


def requested(fast_path: bool | None) -> bool:
    """``fast_path`` when given, else ``$TRIOFLOW_FAST_PATH`` (on when unset)."""
    if fast_path is not None:
        return fast_path
    value = os.environ.get(ENV)
    if value is None:
        return True
    if value.strip().lower() in _ON:
        return True
    if value.strip().lower() in _OFF:
        return False
    raise ValueError(f"{ENV} must be 1 or 0 (on or off), not {value!r}")


def known(installed: str | None, series: tuple[tuple[int, int], ...]) -> bool:
    """Whether the ``installed`` version string belongs to one of ``series``."""
    if installed is None:
        return False
    parts = installed.split(".")
    try:
        return (int(parts[0]), int(parts[1])) in series
    except (IndexError, ValueError):
        return False


def connection_class(fast_path: bool | None) -> type[TCPServer]:
    """The class that serves each connection: ``Connection``, or Hypercorn's own."""
    if not requested(fast_path):
        _log.info("HTTP fast path off: Hypercorn's own connection class serves")
        return TCPServer
    installed = _version("hypercorn")
    if not known(installed, HYPERCORN):
        _log.warning(
            "HTTP fast path off: Hypercorn %s is not a release it was written for (%s);"
            " Hypercorn's own connection class serves",
            installed,
            _series(HYPERCORN),
        )
        return TCPServer
    return Connection


def start_route_wanted(fast_path: bool | None) -> bool:
    """Whether ``POST /workflows/{name}`` may be answered in front of Quart."""
    if not requested(fast_path):
        return False
    for distribution, name, series in (
        ("quart", "Quart", QUART),
        ("werkzeug", "Werkzeug", WERKZEUG),
    ):
        installed = _version(distribution)
        if not known(installed, series):
            _log.warning(
                "HTTP fast path off: %s %s is not a release it was written for (%s);"
                " Quart answers every request",
                name,
                installed,
                _series(series),
            )
            return False
    return True


def _version(distribution: str) -> str | None:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def _series(series: tuple[tuple[int, int], ...]) -> str:
    return ", ".join(f"{major}.{minor}" for major, minor in series)
