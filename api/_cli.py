"""The ``trioflow`` command.

``instances``, ``show`` and ``replay`` only read the database: they are safe on a file
that a running service is using. ``serve`` runs the service. ``resume`` drives suspended
instances again, through a running server (``--url``) or in the database (``--db``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

import attrs
import trio

from runtime import STATUSES, Instance, InstanceNotFound, registry
from runtime._runtime import replay_report
from runtime._sqlite import SqliteStore

from . import _resume_cli
from ._serve import load_app_module, run


def _print(value: Any) -> None:
    if attrs.has(type(value)):
        value = attrs.asdict(value)
    print(json.dumps(value, indent=2, default=str))


def _serve(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    trio.run(lambda: run(args.app, db=args.db, host=args.host, port=args.port, token=args.token))


def _existing(path: str) -> SqliteStore:
    """The store in ``path``, which must exist: a command that reads makes no new file."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no database at {path!r} (--db names it)")
    return SqliteStore(path)


def _instances(args: argparse.Namespace) -> None:
    with _existing(args.db) as store:
        page = store.list(status=args.status, workflow=args.workflow, limit=args.limit)
        for row in page.items:
            item = Instance.from_row(row)
            print(f"{item.id}\t{item.workflow}\t{item.status}\t{item.updated_at.isoformat()}")


def _show(args: argparse.Namespace) -> None:
    with _existing(args.db) as store:
        row = store.get(args.id)
        if row is None:
            raise InstanceNotFound(f"no instance has id {args.id!r}")
        _print(Instance.from_row(row))
        for rec in store.read(args.id):
            when = dt.datetime.fromtimestamp(rec.at, dt.UTC).isoformat()
            print(f"{rec.seq:>5} {when} {rec.kind} {rec.data}")


def _replay(args: argparse.Namespace) -> None:
    load_app_module(args.app)
    with _existing(args.db) as store:
        report = replay_report(registry, store, args.id)
    _print(report)
    if not report.ok:
        sys.exit(2)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="trioflow", description="Durable workflows on Trio.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the HTTP API for the workflows in APP")
    serve.add_argument("app", help="a Python file (app.py) or module name with the workflows")
    serve.add_argument("--db", default="trioflow.db", help="SQLite file (default trioflow.db)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8001)
    serve.add_argument("--token", help="bearer token (default: $TRIOFLOW_TOKEN; none: open)")

    instances = sub.add_parser("instances", help="list instances")
    instances.add_argument("--db", default="trioflow.db")
    # `blocked` lives only in a running server's memory (GET /instances?status=blocked).
    stored = [status for status in STATUSES if status != "blocked"]
    instances.add_argument("--status", choices=stored)
    instances.add_argument("--workflow")
    instances.add_argument("--limit", type=int, default=100)

    show = sub.add_parser("show", help="show an instance and its journal")
    show.add_argument("id")
    show.add_argument("--db", default="trioflow.db")

    replay = sub.add_parser("replay", help="replay an instance's journal against APP's code")
    replay.add_argument("id")
    replay.add_argument("--app", required=True, help="the file or module with the workflows")
    replay.add_argument("--db", default="trioflow.db")

    _resume_cli.add_parser(sub)

    args = parser.parse_args(argv)
    command = {
        "serve": _serve,
        "instances": _instances,
        "show": _show,
        "replay": _replay,
        "resume": _resume_cli.run,
    }
    try:
        command[args.command](args)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # a clear one-line error, not a traceback
        print(f"trioflow: {exc}", file=sys.stderr)
        sys.exit(1)
