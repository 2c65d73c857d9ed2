"""``trioflow incidents``, ``trioflow resolve`` and ``trioflow signal``: open incidents,
resolving one, and broadcasting a BPMN signal.

``incidents`` reads the database (``--db``, read-only, safe beside a running service) or
asks a running service (``--url``). ``resolve`` and ``signal`` ask the running service,
which owns the instances: ``POST /instances/{id}/incidents/{incident}/resolve`` and
``POST /signals/{name}``, with ``$TRIOFLOW_TOKEN`` as the bearer token when it is set.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from runtime import Instance, TrioflowError

DEFAULT_URL = "http://127.0.0.1:8001"


class ServiceError(TrioflowError):
    """The service answered with a problem (its status and detail are in the message)."""


def add_commands(
    sub: Any, existing: Callable[[str], Any]
) -> dict[str, Callable[[argparse.Namespace], None]]:
    """Add the three commands to ``sub``; return their functions by name."""
    listing = sub.add_parser("incidents", help="list the open incidents")
    source = listing.add_mutually_exclusive_group()
    source.add_argument(
        "--db", help="read this SQLite file (default trioflow.db) or postgresql:// URL"
    )
    source.add_argument("--url", help=f"ask a running service (e.g. {DEFAULT_URL})")
    resolve = sub.add_parser("resolve", help="resolve an incident: retry where it stopped")
    resolve.add_argument("id", help="the instance id")
    resolve.add_argument("incident", help="the incident id (see trioflow incidents)")
    resolve.add_argument("--url", default=DEFAULT_URL, help=f"the service (default {DEFAULT_URL})")
    resolve.add_argument("--variables", help="a JSON object of variables to set first")
    signal = sub.add_parser("signal", help="broadcast a BPMN signal to a running service")
    signal.add_argument("name", help="the signal's name")
    signal.add_argument("--url", default=DEFAULT_URL, help=f"the service (default {DEFAULT_URL})")
    signal.add_argument("--variables", help="a JSON object: the signal's variables")
    for command in (listing, resolve, signal):
        command.add_argument("--debug", action="store_true", help="print the whole traceback")

    def incidents(args: argparse.Namespace) -> None:
        if args.url:
            page = _call("GET", args.url, "/instances?status=incident&limit=500")
            rows = [(item["id"], item["incidents"]) for item in page["items"]]
        else:
            with existing(args.db or "trioflow.db") as store:
                items = store.list(status="incident", workflow=None, limit=500).items
                rows = [(row.id, Instance.from_row(row).incidents) for row in items]
        for instance_id, found in rows:
            for item in found:
                print(
                    f"{instance_id}\t{item['id']}\t{item['element_id']}\t{item['since']}"
                    f"\t{item['message']}"
                )

    def resolve_incident(args: argparse.Namespace) -> None:
        body: dict[str, Any] = {}
        if args.variables is not None:
            body["variables"] = json.loads(args.variables)
        path = (
            f"/instances/{urllib.parse.quote(args.id, safe='')}/incidents/"
            f"{urllib.parse.quote(args.incident, safe='')}/resolve"
        )
        print(json.dumps(_call("POST", args.url, path, body)))

    def broadcast_signal(args: argparse.Namespace) -> None:
        body: dict[str, Any] = {}
        if args.variables is not None:
            body["variables"] = json.loads(args.variables)
        path = f"/signals/{urllib.parse.quote(args.name, safe='')}"
        print(json.dumps(_call("POST", args.url, path, body)))

    return {"incidents": incidents, "resolve": resolve_incident, "signal": broadcast_signal}


def _call(method: str, url: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url.rstrip("/") + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    token = os.environ.get("TRIOFLOW_TOKEN")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read()).get("detail", "")
        except ValueError:
            detail = ""
        raise ServiceError(f"{exc.code}: {detail or exc.reason}") from None
