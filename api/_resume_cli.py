"""``trioflow resume``: drive suspended instances again, through a server or in the database.

With ``--url`` the running server resumes them (``POST /instances/{id}/resume``): it replays
each journal against its code and drives the instance on at once. With ``--db`` (and
``--app``, the code to replay against) no server may have the file open: the journal is
replayed here and the instance's status stored as ``running`` or ``waiting``, so that the
next ``trioflow serve`` on the file drives it. Either way an instance whose journal still
diverges from the code stays suspended, and the command exits with 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

from runtime import (
    DatabaseLocked,
    InstanceNotFound,
    NotSuspended,
    Store,
    StoreError,
    registry,
    resume_stored,
)
from runtime.store import is_postgres_url, open_store

from ._serve import load_app_module

HTTP_TIMEOUT = 70.0


def add_parser(sub: Any) -> argparse.ArgumentParser:
    resume = sub.add_parser(
        "resume",
        help="drive suspended instances again (after a code fix, or a storage or supervision"
        " fault)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    resume.add_argument("ids", nargs="*", metavar="ID", help="instances to resume")
    resume.add_argument(
        "--all-suspended", action="store_true", help="resume every suspended instance"
    )
    where = resume.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="a running server, e.g. http://127.0.0.1:8001")
    where.add_argument(
        "--db", help="the SQLite file or postgresql:// URL, when no server has it open"
    )
    resume.add_argument("--app", help="with --db: the file or module with the workflows")
    resume.add_argument(
        "--token-file", metavar="PATH", help="with --url: the bearer token's file (first line)"
    )
    parser: argparse.ArgumentParser = resume
    return parser


def run(args: argparse.Namespace) -> None:
    if bool(args.ids) == bool(args.all_suspended):
        raise ValueError("name the instances to resume, or give --all-suspended (not both)")
    if args.db is not None:
        if args.app is None:
            raise ValueError("--db needs --app: the code each journal is replayed against")
        outcomes = _in_database(args.db, args.app, args.ids, args.all_suspended)
    else:
        if args.app is not None:
            raise ValueError("--app goes with --db; a server resumes with the code it runs")
        outcomes = _through_server(
            args.url, token_from(args.token_file), args.ids, args.all_suspended
        )
    worst = 0
    for instance_id, status, note in outcomes:
        print(f"{instance_id}\t{status}" + (f"\t{note}" if note else ""), flush=True)
        worst = max(worst, {"error": 1, "suspended": 2}.get(status, 0))
    sys.exit(worst)


Outcome = tuple[str, str, str]
"""(instance id, its status after the attempt or "error", what to tell the user)."""


def _in_database(path: str, app: str, ids: list[str], everyone: bool) -> Iterator[Outcome]:
    load_app_module(app)
    if not is_postgres_url(path) and not os.path.exists(path):
        raise FileNotFoundError(f"no database at {path!r} (--db names it)")
    try:
        store = open_store(path)
    except DatabaseLocked as exc:
        holder = str(exc).split(";")[0]
        raise DatabaseLocked(
            f"{holder}; if that is a trioflow server, resume through it instead:"
            " trioflow resume --url http://HOST:PORT ... (or stop it first)"
        ) from None
    with store:
        if everyone:
            ids = _all_suspended_ids(store)
        for instance_id in ids:
            try:
                report = resume_stored(registry, store, instance_id, time.time())
            except (InstanceNotFound, NotSuspended, StoreError) as exc:
                yield instance_id, "error", str(exc)
                continue
            if not report.ok:
                yield instance_id, "suspended", f"still diverges: {report.divergence}"
                continue
            row = store.get(instance_id)
            status = "" if row is None else row.status
            yield instance_id, status, "the next trioflow serve on this database drives it"


def _all_suspended_ids(store: Store) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        page = store.list(status="suspended", limit=500, cursor=cursor)
        ids += [row.id for row in page.items]
        if page.next_cursor is None:
            return ids
        cursor = page.next_cursor


def _through_server(
    url: str, token: str | None, ids: list[str], everyone: bool
) -> Iterator[Outcome]:
    server = Server(url.rstrip("/"), token)
    if everyone:
        ids = server.suspended_ids()
    for instance_id in ids:
        path = f"/instances/{urllib.parse.quote(instance_id, safe='')}"
        status_code, answer = server.call("POST", path + "/resume")
        if status_code != 202:
            yield instance_id, "error", answer.get("detail", f"HTTP {status_code}")
            continue
        status = answer["status"]
        if status == "suspended":
            _, document = server.call("GET", path)
            error = document.get("error") or {}
            yield instance_id, status, f"still suspended: {error.get('message', '')}"
        else:
            yield instance_id, status, ""


class Server:
    def __init__(self, url: str, token: str | None) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"--url must start with http:// or https://, got {url!r}")
        self.url = url
        self.token = token

    def suspended_ids(self) -> list[str]:
        ids: list[str] = []
        query = {"status": "suspended", "limit": "500"}
        while True:
            status_code, page = self.call("GET", "/instances?" + urllib.parse.urlencode(query))
            if status_code != 200:
                raise RuntimeError(f"listing suspended instances failed: {page.get('detail')}")
            ids += [item["id"] for item in page["items"]]
            if page["next_cursor"] is None:
                return ids
            query["cursor"] = page["next_cursor"]

    def call(self, method: str, path: str) -> tuple[int, dict[str, Any]]:
        """The status and JSON answer of one request; a transport failure raises."""
        request = urllib.request.Request(self.url + path, method=method)
        if self.token is not None:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
                return response.status, _json(response.read())
        except urllib.error.HTTPError as error:
            with error:
                return error.code, _json(error.read())
        except urllib.error.URLError as error:
            raise ConnectionError(f"cannot reach {self.url}: {error.reason}") from None


def _json(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        return {"detail": body.decode("utf-8", "replace")[:200]}
    return value if isinstance(value, dict) else {"detail": str(value)}


def token_from(path: str | None) -> str | None:
    """The bearer token: the first line of ``path``, else ``$TRIOFLOW_TOKEN``, else none."""
    if path is None:
        return os.environ.get("TRIOFLOW_TOKEN") or None
    with open(path, encoding="utf-8") as file:
        token = file.readline().rstrip("\r\n")
    if not token.strip():
        raise ValueError(f"the token file {path!r} is empty (the token is its first line)")
    return token
