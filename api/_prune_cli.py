"""``trioflow prune``: delete finished instances older than an age, now.

With ``--db`` the command works in the SQLite file itself, which no server may have open
for writing (one writer per file: the server holds its lock); ``--dry-run`` only reads and
works beside a running server. With ``--url`` a running server prunes
(``POST /prune``), through its journal, beside its own work. Either way it prints what it
deleted, or with ``--dry-run`` what it would delete, as JSON. Deleting goes a batch at a
time, each batch one transaction: interrupted, it has deleted whole instances only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.parse
from collections.abc import Sequence
from typing import Any

import attrs
import trio

from runtime import (
    DatabaseLocked,
    SqliteStore,
    open_read_only,
    prune_stored,
)

from ._durations import duration
from ._resume_cli import Server, token_from


def add_parser(sub: Any) -> argparse.ArgumentParser:
    prune = sub.add_parser(
        "prune",
        help="delete finished instances older than an age (and print what went, as JSON)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    prune.add_argument(
        "--older-than",
        required=True,
        type=duration,
        metavar="AGE",
        help="finished (completed, failed, cancelled) longer ago than AGE: 30s, 15m, 12h, 7d",
    )
    prune.add_argument("--dry-run", action="store_true", help="count, delete nothing")
    prune.add_argument("--workflow", help="only the instances of this workflow")
    where = prune.add_mutually_exclusive_group(required=True)
    where.add_argument("--db", help="the SQLite file (no server may have it open, but to read)")
    where.add_argument("--url", help="a running server, e.g. http://127.0.0.1:8001")
    prune.add_argument(
        "--archive",
        metavar="PATH",
        help="append each deleted instance (row and journal) to this JSON Lines file, or to"
        " a file per day in this directory, before it is deleted",
    )
    prune.add_argument(
        "--events-older-than",
        type=duration,
        metavar="AGE",
        help="with --db: also delete the events received longer ago than AGE",
    )
    prune.add_argument(
        "--vacuum",
        action="store_true",
        help="with --db: afterwards, rewrite the file without its free pages (an older file"
        " then gives the space later deletes free back too)",
    )
    prune.add_argument(
        "--token-file", metavar="PATH", help="with --url: the bearer token's file (first line)"
    )
    parser: argparse.ArgumentParser = prune
    return parser


def run(args: argparse.Namespace) -> None:
    if args.db is not None:
        answer = _in_database(args)
    else:
        if args.events_older_than is not None or args.vacuum:
            raise ValueError("--events-older-than and --vacuum go with --db")
        answer = _through_server(args)
    print(json.dumps(answer, indent=2))


def _in_database(args: argparse.Namespace) -> dict[str, Any]:
    path = args.db
    if not os.path.exists(path):
        raise FileNotFoundError(f"no database at {path!r} (--db names it)")
    if args.dry_run and args.vacuum:
        raise ValueError("--dry-run deletes nothing: there is nothing to --vacuum")
    if args.dry_run:
        store = open_read_only(path)
    else:
        try:
            store = SqliteStore(path)
        except DatabaseLocked as exc:
            holder = str(exc).split(";")[0]
            raise DatabaseLocked(
                f"{holder}; if that is a trioflow server, prune through it instead:"
                " trioflow prune --url http://HOST:PORT ... (or stop it first)"
            ) from None
    size = _size(path)
    gone = 0

    def progress(ids: Sequence[str]) -> None:
        nonlocal gone
        gone += len(ids)
        if sys.stderr.isatty():
            print(f"\rdeleted {gone} instances", end="", file=sys.stderr, flush=True)

    with store:
        report = trio.run(
            lambda: prune_stored(
                store,
                older_than=args.older_than,
                now=time.time(),
                dry_run=args.dry_run,
                archive=args.archive,
                workflow=args.workflow,
                events_older_than=args.events_older_than,
                progress=progress,
            )
        )
        if gone and sys.stderr.isatty():
            print(file=sys.stderr)
        if args.vacuum and isinstance(store, SqliteStore):
            store.vacuum()
    answer = attrs.asdict(report)
    answer["file_bytes_before"] = size
    answer["file_bytes_after"] = _size(path)
    return answer


def _size(path: str) -> int:
    """The database's bytes on disk: the file and its write-ahead log."""
    return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))


def _through_server(args: argparse.Namespace) -> dict[str, Any]:
    server = Server(args.url.rstrip("/"), token_from(args.token_file))
    query = {"older_than": f"{int(args.older_than)}s"}
    if args.dry_run:
        query["dry_run"] = "true"
    if args.workflow is not None:
        query["workflow"] = args.workflow
    if args.archive is not None:
        raise ValueError("--archive goes with --db; a server archives where it was told to")
    status, answer = server.call("POST", "/prune?" + urllib.parse.urlencode(query))
    if status != 200:
        raise RuntimeError(f"the server refused to prune: {answer.get('detail', status)}")
    return answer
