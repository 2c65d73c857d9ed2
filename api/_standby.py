"""A standby's HTTP server: reads answered from the database, writes sent to the writer.

``trioflow serve --standby`` serves from the moment it starts. While another process writes
the database, the app in front is a *reader*: the same routes over a runtime that drives
nothing (``Runtime.open(drive=False)`` on a read-only store), whose queries read what the
writer stored. Every command, and ``/healthz`` (what a load balancer asks), is answered 503
with ``Retry-After`` and a detail naming the process that serves, so that clients and
balancers go there. When this process takes over, ``Switch`` hands every new request to the
full app; the listening socket stays open throughout.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import attrs
import trio
from quart import request
from quart_trio import QuartTrio

from ._problems import HTTPProblem

_READS = frozenset({"GET", "HEAD", "OPTIONS"})
_SESSION_ONLY = frozenset({"/ui/login", "/ui/logout"})
"""Writes that touch no database: the viewer's session cookie."""
RETRY_AFTER = "2"


def stand_by(reader: QuartTrio, serving: Callable[[], str]) -> None:
    """Make ``reader`` refuse, with 503, every command and the health check; ``serving()``
    names the process that serves the database now, for the detail."""

    async def refuse_writes() -> None:
        path = request.path
        if request.method in _READS and path != "/healthz":
            return
        if request.method not in _READS and path in _SESSION_ONLY:
            return
        raise HTTPProblem(
            503,
            f"this process stands by for {serving()}, which serves this database: send"
            " commands there (this one takes over, and takes them, when that one goes)",
            kind="standby",
            headers={"Retry-After": RETRY_AFTER},
        )

    # Registered after the middleware's own, so the bearer token is checked first.
    reader.before_request(refuse_writes)


@attrs.define(eq=False, kw_only=True)
class Switch:
    """The ASGI app a standby serves: ``reader`` until ``take_over``, then ``writer``.

    The server's lifespan is ``reader``'s; ``taken_over`` runs ``writer``'s, so that one
    server serves both in turn.
    """

    reader: QuartTrio
    writer: QuartTrio | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        app = self.reader if self.writer is None or scope["type"] == "lifespan" else self.writer
        await app(scope, receive, send)

    @contextlib.asynccontextmanager
    async def taken_over(self, writer: QuartTrio) -> AsyncIterator[None]:
        """Within: every new request goes to ``writer``, started as its lifespan would."""
        async with trio.open_nursery() as nursery:
            writer.nursery = nursery  # the app's background tasks, as Quart-Trio keeps them
            await writer.startup()
            self.writer = writer
            yield
            await writer.shutdown()
