"""The ``trioflow`` command.

``instances``, ``show`` and ``replay`` only read the database: they are safe on a file
that a running service is using. ``serve`` runs the service. ``resume`` drives suspended
instances again, and ``prune`` deletes old finished instances, through a running server
(``--url``) or in the database (``--db``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import attrs
import trio

from runtime import (
    DEFAULT_RETENTION,
    STATUSES,
    Instance,
    InstanceNotFound,
    StoreError,
    TrioflowError,
    check_database,
    open_read_only,
    registry,
    replay_report,
)
from runtime.store import is_postgres_url, upgrade_database

from . import _prune_cli, _resume_cli
from ._app import MAX_STARTS
from ._cli_incidents import add_commands
from ._durations import retention
from ._serve import BACKLOG, MAX_CONNECTIONS, load_app_module, run


def _print(value: Any) -> None:
    if attrs.has(type(value)):
        value = attrs.asdict(value)
    print(json.dumps(value, indent=2, default=str))


def _serve(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    token = _token_from_file(args.token_file) if args.token_file is not None else args.token
    trio.run(
        lambda: run(
            args.app,
            db=args.db,
            host=args.host,
            port=args.port,
            token=token,
            max_connections=args.max_connections,
            max_starts=args.max_starts,
            backlog=args.backlog,
            graceful_timeout=args.graceful_timeout,
            check=not args.skip_check,
            fast_path=args.fast_path,
            standby=args.standby,
            lease=args.lease,
            poll_interval=args.poll_interval,
            retention=args.retention,
            archive=args.archive,
        )
    )


def _token_from_file(path: str) -> str:
    """The token in the file at ``path``: its first line, which must not be empty."""
    with open(path, encoding="utf-8") as file:
        token = file.readline().rstrip("\r\n")
    if not token.strip():
        raise ValueError(f"the token file {path!r} is empty (the token is its first line)")
    return token


def _instances(args: argparse.Namespace) -> None:
    with open_read_only(args.db) as store:
        page = store.list(status=args.status, workflow=args.workflow, limit=args.limit)
        for row in page.items:
            item = Instance.from_row(row)
            print(f"{item.id}\t{item.workflow}\t{item.status}\t{item.updated_at.isoformat()}")


def _show(args: argparse.Namespace) -> None:
    with open_read_only(args.db) as store:
        row = store.get(args.id)
        if row is None:
            raise InstanceNotFound(f"no instance has id {args.id!r}")
        _print(Instance.from_row(row))
        for rec in store.read(args.id):
            if row.run > 1 and rec.kind == "workflow_started":
                # An instance that continued as new: a heading tells its runs apart.
                print(f"run {json.loads(rec.data).get('run', 1)}")
            when = dt.datetime.fromtimestamp(rec.at, dt.UTC).isoformat()
            # A snapshot holds the whole state (variables and all): its size says enough.
            data = f"({len(rec.data)} bytes of state)" if rec.kind == "snapshot" else rec.data
            print(f"{rec.seq:>5} {when} {rec.kind} {data}")


def _replay(args: argparse.Namespace) -> None:
    load_app_module(args.app)
    with open_read_only(args.db) as store:
        report = replay_report(registry, store, args.id)
    _print(report)
    if not report.ok:
        sys.exit(2)


def _check(args: argparse.Namespace) -> None:
    report = check_database(args.db)
    print(f"database: {report.path}")
    version = "unreadable" if report.schema_version is None else report.schema_version
    print(f"schema version: {version} (this trioflow knows {report.known_version})")
    if report.ok:
        print("integrity: ok")
        return
    print(f"integrity: DAMAGED ({len(report.problems)} problem(s) shown)")
    for problem in report.problems:
        print(f"  {problem}")
    if not is_postgres_url(args.db):
        print("restore the file from a backup; 'sqlite3 FILE .recover' may salvage some rows")
    sys.exit(1)


def _upgrade(args: argparse.Namespace) -> None:
    before, after = upgrade_database(args.db)
    if before == after:
        print(f"schema version {after}: up to date")
    else:
        print(f"schema version {'none' if before is None else before} -> {after}")


def _fatal(exc: BaseException) -> list[str]:
    """One line per cause of a fatal error: exception groups unwrapped to what they hold."""
    if isinstance(exc, BaseExceptionGroup):
        return [line for inner in exc.exceptions for line in _fatal(inner)]
    message = str(exc)
    if not message or not isinstance(exc, _SELF_EXPLAINED):
        message = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return [f"trioflow: {message}"]


# Errors whose message says it all; for anything else the class name comes first.
_SELF_EXPLAINED = (TrioflowError, StoreError, OSError, ValueError, ImportError)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="trioflow", description="Durable workflows on Trio.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the HTTP API for the workflows in APP")
    serve.add_argument("app", help="a Python file (app.py) or module name with the workflows")
    serve.add_argument(
        "--db",
        default="trioflow.db",
        help="SQLite file (default trioflow.db) or postgresql://user@host/db URL",
    )
    serve.add_argument(
        "--standby",
        action="store_true",
        help=argparse.SUPPRESS,  # deprecated, does nothing: every server serves
    )
    serve.add_argument(
        "--lease",
        type=float,
        default=None,
        help="PostgreSQL: seconds after which the instances of a paused or cut-off server"
        " are taken over by the others (default 10; a killed one's within about 2 s)",
    )
    serve.add_argument(
        "--poll-interval",
        type=float,
        default=1.0,
        help="PostgreSQL: seconds between this server's looks for events and commands other"
        " servers stored for its instances, in case a notification was lost (default 1)",
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8001)
    tokens = serve.add_mutually_exclusive_group()
    tokens.add_argument("--token", help="bearer token (default: $TRIOFLOW_TOKEN; none: open)")
    tokens.add_argument(
        "--token-file", metavar="PATH", help="read the bearer token from the first line of PATH"
    )
    serve.add_argument(
        "--max-connections",
        type=int,
        default=MAX_CONNECTIONS,
        help=f"connections open at once; more get 503 (default {MAX_CONNECTIONS})",
    )
    serve.add_argument(
        "--max-starts",
        type=int,
        default=MAX_STARTS,
        help=f"starts in progress at once; more get 503 (default {MAX_STARTS})",
    )
    serve.add_argument(
        "--backlog",
        type=int,
        default=BACKLOG,
        help=f"length of the listen queue (default {BACKLOG})",
    )
    serve.add_argument(
        "--graceful-timeout",
        type=float,
        default=10.0,
        help="seconds to finish requests on SIGTERM or SIGINT (default 10)",
    )
    serve.add_argument(
        "--skip-check",
        action="store_true",
        help="do not run SQLite's quick_check at startup (it reads the whole file once)",
    )
    serve.add_argument(
        "--no-fast-path",
        dest="fast_path",
        action="store_const",
        const=False,
        help="serve every request through Hypercorn's connection class and Quart, without"
        " the faster start route and connection (default: $TRIOFLOW_FAST_PATH, else on)",
    )

    serve.add_argument(
        "--retention",
        type=retention,
        default=DEFAULT_RETENTION,
        metavar="AGE",
        help="delete finished instances and their journals AGE after they finished: 30s,"
        " 15m, 12h, 7d, or never (default 7d; a workflow's own retention wins)",
    )
    serve.add_argument(
        "--archive",
        metavar="PATH",
        help="append each instance retention deletes (row and journal) to this JSON Lines"
        " file, or to a file per day in this directory, before it is deleted",
    )

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

    checking = sub.add_parser("check", help="check a database file's integrity (exit 1: damaged)")
    checking.add_argument("--db", default="trioflow.db")

    upgrading = sub.add_parser(
        "upgrade", help="create or upgrade a database's schema (servers upgrade it too on open)"
    )
    upgrading.add_argument("--db", default="trioflow.db")

    resuming = _resume_cli.add_parser(sub)
    pruning = _prune_cli.add_parser(sub)
    incident_commands = add_commands(sub, open_read_only)

    for command in (serve, instances, show, replay, checking, upgrading, resuming, pruning):
        command.add_argument(
            "--debug", action="store_true", help="print the whole traceback of a fatal error"
        )
    args = parser.parse_args(argv)
    commands = {
        "serve": _serve,
        "instances": _instances,
        "show": _show,
        "replay": _replay,
        "check": _check,
        "upgrade": _upgrade,
        "resume": _resume_cli.run,
        "prune": _prune_cli.run,
        **incident_commands,
    }
    try:
        commands[args.command](args)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # a clear line per cause, not a traceback (unless --debug)
        if args.debug:
            traceback.print_exception(exc)
        else:
            print("\n".join(_fatal(exc)), file=sys.stderr)
        sys.exit(1)
