"""Which process drives each instance of a PostgreSQL database that several processes share.

Theory of operation. Every process that opens a `PostgresStore` for writing is an *owner*: a
row of ``owners`` with an id of its own, never used again (host, pid and a random part), and a
lease, ``expires_at``, in the server's time. A thread renews the row every *heartbeat* (a
quarter lease, at most half a second), so the lease of every instance the process drives is
renewed by one statement, however many there are. An instance names its owner
(``instances.owner``) and counts the hands it went through (``instances.epoch``: 1 when
created, one more with each claim).

- Creating an instance makes it the creator's.
- Every append is fenced in its own transaction: the statement that moves the instance's
  journal on also requires that the instance is still the writer's (`_postgres_write`). An
  append for an instance another process took is refused with `NotOwner` and writes nothing;
  the rest of its group commits.
- An instance whose owner is *gone*, or that its owner released, is an *orphan*: any process
  may claim it (`claim_orphans`, ``FOR UPDATE SKIP LOCKED``, so that two claimers take
  different ones), and then replays it as recovery does. A paused owner that wakes finds its
  appends for those refused, while the ones nobody took are still its own.
- A process that closes its store releases its unfinished instances (owner NULL), so that
  another claims them at once instead of after the lease.

An owner is gone when its lease ran out (the process died, or was paused or cut off for
longer than its lease), or sooner when it died: the renewing connection also holds a
session-level advisory lock keyed by the owner's id, which PostgreSQL lets go the moment the
session ends, as it does when the process is killed (its sockets close). An owner whose lock
is free and whose row missed three heartbeats is gone. A paused process keeps its sessions,
and so its lock, and keeps its instances for its whole lease; a live one whose connection
dropped (a restarted server) makes a new one and takes its lock again at its next heartbeat,
before the three are missed.

A paused process also keeps whatever its sessions hold: one stopped in the middle of a write
(between the statements of its transaction, or while it sends the journal by COPY) is an
*active* session that no PostgreSQL timeout ends, and the rows it updated stay locked, so a
claim (which skips locked rows) would never take those instances while it sleeps. So each
owner records in its row the sessions that write for it (``owners.sessions``: the lease's and
the writer's, each as its backend pid and start, exact since a pid is used again only by a
session started later), and a claimer first ends the recorded sessions of every owner that is
gone (`end_sessions_of_gone`): their transactions roll back and their rows are free. That owner,
if it wakes, connects anew and records its new sessions; its appends for what was taken are
refused by the fence. Only an owner's own sessions are ended, and only once it is gone. (A
claimer sees the start of the sessions of its own database role only: processes that connect
as different roles do not end each other's.)

Safety does not rest on clocks: a lease only decides when others may claim; the fence, in the
database, decides whose appends count. An instance that no process took is still its owner's
after that owner's lease ran out, and its appends commit. The fence compares owner ids, not
epochs: an id is never used twice, so an instance that names its writer either never left it
or was claimed back by it, and a claim replays the instance from its journal before the
runtime drives it again (an append must also continue the stored journal, seq after seq).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from typing import Any

import psycopg
import psycopg.errors

from ._interface import Owner, StoreError

OWNERS_TABLE = """
    CREATE TABLE owners (
        id TEXT COLLATE "C" PRIMARY KEY,
        host TEXT NOT NULL,
        pid BIGINT NOT NULL,
        url TEXT,
        started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        expires_at TIMESTAMPTZ NOT NULL
    );
    ALTER TABLE instances ADD COLUMN owner TEXT COLLATE "C";
    ALTER TABLE instances ADD COLUMN epoch BIGINT NOT NULL DEFAULT 0;
    CREATE INDEX instances_owner ON instances (owner)
        WHERE status NOT IN ('completed', 'failed', 'cancelled');
"""
"""Migration 5. The index holds the unfinished instances by owner: what a claim or a release
looks for, whatever the number of finished ones."""

OWNERS_HEARTBEAT = """
    ALTER TABLE owners ADD COLUMN renewed_at TIMESTAMPTZ NOT NULL DEFAULT now();
    ALTER TABLE owners ADD COLUMN heartbeat DOUBLE PRECISION NOT NULL DEFAULT 2.5;
"""
"""Migration 6: when each owner renewed its lease last, and how often it does."""

OWNER_SESSIONS = "ALTER TABLE owners ADD COLUMN sessions TEXT[] NOT NULL DEFAULT '{}'"
"""Migration 8: the sessions that write for each owner, for a claimer to end once it is gone."""

LEASE_SESSION = 1
WRITER_SESSION = 2
"""Where each of an owner's sessions is recorded in ``owners.sessions``."""

_SESSION = "a.pid || ' ' || extract(epoch FROM a.backend_start)"
"""The session ``a`` of ``pg_stat_activity``, exactly (a pid alone may be a later session's)."""
_RECORD_SESSION = (
    "UPDATE owners SET sessions[%s] ="
    f" (SELECT {_SESSION} FROM pg_stat_activity AS a WHERE a.pid = pg_backend_pid())"
    " WHERE id = %s"
)
END_SESSION_WAIT_MS = 1000
"""How long a claimer waits for each session it ends to be gone (a session that takes longer
still rolls back, and the next claim takes what it held)."""

HEARTBEAT_LOCK = 7_366_152
"""First key of an owner's advisory lock; the second is ``hashtext`` of its id."""
_LOCK_KEY = f"{HEARTBEAT_LOCK}, hashtext(%s)"
_GONE = (
    "(o.expires_at < now() OR (o.renewed_at < now() - make_interval(secs => 3 * o.heartbeat)"
    " AND NOT EXISTS (SELECT 1 FROM pg_locks AS l WHERE l.locktype = 'advisory'"
    f" AND l.classid = {HEARTBEAT_LOCK} AND l.objid = hashtext(o.id)::oid AND l.objsubid = 2"
    " AND l.granted)))"
)
"""Whether the owner ``o`` is gone (see the module docstring)."""
LIVE_OWNER = f"NOT {_GONE}"

_log = logging.getLogger("trioflow")
_UNFINISHED = "status NOT IN ('completed', 'failed', 'cancelled')"  # the index's condition

_REGISTER = (
    "INSERT INTO owners (id, host, pid, url, expires_at, heartbeat)"
    " VALUES (%s, %s, %s, %s, now() + make_interval(secs => %s), %s)"
    " ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at, renewed_at = now()"
)
_RENEW = (
    "UPDATE owners SET expires_at = now() + make_interval(secs => %s), renewed_at = now()"
    " WHERE id = %s"
)
_END_SESSIONS_OF_GONE = (
    # The owner's row stays locked until the sessions are ended: a renewal that makes it live
    # again waits, or ran first and then the owner is not gone any more. A row that another
    # claimer or a renewal holds is skipped.
    "WITH gone AS (SELECT o.id, o.sessions FROM owners AS o"
    f" WHERE cardinality(o.sessions) > 0 AND o.id <> %s AND {_GONE} FOR UPDATE SKIP LOCKED),"
    " forgotten AS (UPDATE owners SET sessions = '{}' FROM gone WHERE owners.id = gone.id)"
    f" SELECT gone.id, a.pid, pg_terminate_backend(a.pid, {END_SESSION_WAIT_MS}) FROM gone"
    f" CROSS JOIN LATERAL (SELECT a.pid FROM pg_stat_activity AS a"
    f" WHERE ({_SESSION}) = ANY(gone.sessions)) AS a"
)
_CLAIM_ORPHANS = (
    "WITH orphans AS (SELECT pk FROM instances"
    f" WHERE {_UNFINISHED} AND status <> 'suspended' AND (owner IS NULL OR owner IN"
    f" (SELECT o.id FROM owners AS o WHERE {_GONE} AND o.id <> %(me)s))"
    " ORDER BY pk LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
    " UPDATE instances AS i SET owner = %(me)s, epoch = i.epoch + 1 FROM orphans"
    " WHERE i.pk = orphans.pk RETURNING i.id, i.pk"
)
_CLAIM_ONE = (
    "UPDATE instances AS i SET owner = %(me)s, epoch = i.epoch + 1"
    " WHERE i.id = %(id)s AND i.owner IS DISTINCT FROM %(me)s AND (i.owner IS NULL"
    " OR NOT EXISTS (SELECT 1 FROM owners AS o WHERE o.id = i.owner"
    f" AND {LIVE_OWNER}))"
    " RETURNING i.epoch"
)
_OWNER_COLUMNS = (
    f"o.id, o.host, o.pid, o.url, extract(epoch FROM o.expires_at)::float8, {LIVE_OWNER}"
)
_OWNER_OF = (
    f"SELECT {_OWNER_COLUMNS} FROM instances AS i JOIN owners AS o ON o.id = i.owner"
    " WHERE i.id = %s"
)
_OWNERS = f"SELECT {_OWNER_COLUMNS} FROM owners AS o ORDER BY o.started_at, o.id"
_RELEASE = f"UPDATE instances SET owner = NULL WHERE owner = %s AND {_UNFINISHED}"
_FORGET_DEAD = (
    "DELETE FROM owners AS o WHERE o.expires_at < now() - make_interval(secs => %s)"
    f" AND NOT EXISTS (SELECT 1 FROM instances WHERE owner = o.id AND {_UNFINISHED})"
)


def new_owner_id() -> str:
    """``host:pid:random``, at most 63 bytes."""
    host = socket.gethostname().encode()[:40].decode(errors="ignore")
    return f"{host}:{os.getpid()}:{secrets.token_hex(6)}"


def heartbeat(lease: float) -> float:
    """Seconds between the renewals of an owner with a lease of `lease` seconds."""
    return min(lease / 4, 0.5)


def register(conn: psycopg.Connection[Any], owner: str, lease: float, url: str | None) -> None:
    values = (owner, socket.gethostname(), os.getpid(), url, lease, heartbeat(lease))
    conn.execute(_REGISTER, values)


def renew(conn: psycopg.Connection[Any], owner: str, lease: float, url: str | None) -> bool:
    """Push the owner's lease a `lease` further; make its row again if it was forgotten (then
    True: record its sessions again)."""
    if conn.execute(_RENEW, (lease, owner)).rowcount:
        return False
    register(conn, owner, lease, url)
    return True


def record_session(conn: psycopg.Connection[Any], owner: str, slot: int) -> None:
    """Record `conn`'s session as `owner`'s `slot` (`LEASE_SESSION`, `WRITER_SESSION`)."""
    conn.execute(_RECORD_SESSION, (slot, owner))


def end_sessions_of_gone(conn: psycopg.Connection[Any], owner: str) -> dict[str, list[int]]:
    """End the recorded sessions of every owner other than `owner` that is gone, and forget
    them: by owner id, the backend pids of the sessions ended. One statement, that reads the
    server's sessions only when some owner is gone with sessions recorded."""
    ended: dict[str, list[int]] = {}
    for gone, pid, _ in conn.execute(_END_SESSIONS_OF_GONE, (owner,)).fetchall():
        ended.setdefault(gone, []).append(int(pid))
    for gone, pids in ended.items():
        _log.warning(
            "ended the sessions (backend pids %s) of owner %s, which is gone",
            ", ".join(map(str, pids)),
            gone,
        )
    return ended


def hold(conn: psycopg.Connection[Any], owner: str) -> bool:
    """Take the owner's advisory lock on `conn` (its session keeps it); False while a
    session of a lost connection of ours still has it (then try again next time)."""
    row = conn.execute(f"SELECT pg_try_advisory_lock({_LOCK_KEY})", (owner,)).fetchone()
    return bool(row and row[0])


def advertise(conn: psycopg.Connection[Any], owner: str, url: str | None) -> None:
    conn.execute("UPDATE owners SET url = %s WHERE id = %s", (url, owner))


def release(conn: psycopg.Connection[Any], owner: str) -> None:
    """Let go of every unfinished instance of `owner`: others claim them at once."""
    conn.execute(_RELEASE, (owner,))


def leave(conn: psycopg.Connection[Any], owner: str) -> None:
    """Release every unfinished instance of `owner` and delete its row, in one transaction:
    its store is closing, and creates no instance any more. (A row is deleted only so, or
    when its owner is long dead and owns nothing unfinished: an instance always names an
    owner whose row says whether it is gone.)"""
    with conn.transaction():
        conn.execute(_RELEASE, (owner,))
        conn.execute("DELETE FROM owners WHERE id = %s", (owner,))


def claim_orphans(conn: psycopg.Connection[Any], owner: str, limit: int) -> list[str]:
    """Make at most `limit` orphans `owner`'s (released ones, and those whose owner's lease
    ran out); their ids, oldest first. Rows another claimer holds are skipped, not waited for;
    the sessions of gone owners are ended first, for the rows they hold to be free."""
    end_sessions_of_gone(conn, owner)
    rows = conn.execute(_CLAIM_ORPHANS, {"me": owner, "limit": limit}).fetchall()
    return [instance_id for instance_id, _ in sorted(rows, key=lambda row: row[1])]


CLAIM_LOCK_TIMEOUT_MS = 1000
"""How long a claim waits for an instance's row that a write holds (the owner's connection's
``lock_timeout``): a process paused in the middle of a write holds its rows until it wakes."""


def claim(conn: psycopg.Connection[Any], owner: str, instance_id: str) -> Owner | None:
    """Make `instance_id` `owner`'s unless a live process owns it. None when `owner` has it
    now (or there is no such instance); else the live owner, or the one in the middle of
    writing it (`StoreError` if that one names no owner: try again)."""
    try:
        with conn.transaction():
            if conn.execute(_CLAIM_ONE, {"me": owner, "id": instance_id}).rowcount:
                return None
            held = owner_of(conn, instance_id)
    except psycopg.errors.LockNotAvailable:
        # A process writes the instance now, or was paused while it did: until its
        # transaction ends, nobody else may take the instance. If that process is gone, its
        # sessions are ended (the write rolls back) and the claim is tried once more.
        held = owner_of(conn, instance_id)
        if held is not None and not held.live and end_sessions_of_gone(conn, owner):
            return claim(conn, owner, instance_id)
        if held is None:
            raise StoreError(f"instance {instance_id!r} is being written elsewhere") from None
        return held
    return None if held is None or held.id == owner else held


def owner_of(conn: psycopg.Connection[Any], instance_id: str) -> Owner | None:
    row = conn.execute(_OWNER_OF, (instance_id,)).fetchone()
    return None if row is None else _owner(row)


def owners(conn: psycopg.Connection[Any]) -> list[Owner]:
    return [_owner(row) for row in conn.execute(_OWNERS).fetchall()]


def forget_dead(conn: psycopg.Connection[Any], after: float) -> None:
    """Delete the rows of owners dead for `after` seconds that own nothing unfinished."""
    conn.execute(_FORGET_DEAD, (after,))


def _owner(row: Any) -> Owner:
    id_, host, pid, url, expires_at, live = row
    return Owner(id=id_, host=host, pid=int(pid), url=url, expires_at=expires_at, live=bool(live))
