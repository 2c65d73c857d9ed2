"""The ``trioflow`` command.

``instances`` and ``show`` only read the database: they are safe on a file that a
running service is using.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Sequence
from typing import Any

import attrs

from runtime import Instance, InstanceNotFound
from runtime._sqlite import SqliteStore


def _print(value: Any) -> None:
    if attrs.has(type(value)):
        value = attrs.asdict(value)
    print(json.dumps(value, indent=2, default=str))


def _instances(args: argparse.Namespace) -> None:
    with SqliteStore(args.db) as store:
        page = store.list(status=args.status, workflow=args.workflow, limit=args.limit)
        for row in page.items:
            item = Instance.from_row(row)
            print(f"{item.id}\t{item.workflow}\t{item.status}\t{item.updated_at.isoformat()}")


def _show(args: argparse.Namespace) -> None:
    with SqliteStore(args.db) as store:
        row = store.get(args.id)
        if row is None:
            raise InstanceNotFound(f"no instance has id {args.id!r}")
        _print(Instance.from_row(row))
        for rec in store.read(args.id):
            when = dt.datetime.fromtimestamp(rec.at, dt.UTC).isoformat()
            print(f"{rec.seq:>5} {when} {rec.kind} {rec.data}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="trioflow", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    instances = sub.add_parser("instances", help="list instances")
    instances.add_argument("--db", default="trioflow.db")
    instances.add_argument("--status")
    instances.add_argument("--workflow")
    instances.add_argument("--limit", type=int, default=100)
    show = sub.add_parser("show", help="show an instance and its journal")
    show.add_argument("id")
    show.add_argument("--db", default="trioflow.db")
    args = parser.parse_args(argv)
    command = {"instances": _instances, "show": _show}[args.command]
    try:
        command(args)
    except Exception as exc:  # a clear one-line error, not a traceback
        print(f"trioflow: {exc}", file=sys.stderr)
        sys.exit(1)
