"""The routing pieces of `PostgresStore` (`_postgres_routing`, `_postgres_link`,
`_postgres_listen`): the events cursor never skips an event committed late and never reads
one twice, events come with the waits they match, the command inbox, and notifications that
survive the loss of the listening connection (as `LOST`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from _stores import POSTGRES_URL, fresh_postgres_url
from hypothesis import given, settings
from hypothesis import strategies as st
from test_store_contract import append

from runtime.store import EventRow, MessageTaken, PostgresStore, WaitRow
from runtime.store._postgres_link import PostgresLink
from runtime.store._postgres_listen import LOST, Listener
from runtime.store._postgres_routing import EventCursor, Routed


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_postgres_url() as url:
        yield url


@pytest.fixture
def store(url: str) -> Iterator[PostgresStore]:
    with PostgresStore(url) as store:
        yield store


@pytest.fixture
def link(store: PostgresStore) -> Iterator[PostgresLink]:
    link = store.link("process-a")
    yield link
    link.close()


def event(id: str, type: str = "t", subject: str | None = None, **extra: Any) -> EventRow:
    return EventRow(
        source="s",
        id=id,
        type=type,
        subject=subject,
        instanceid=extra.pop("instanceid", None),
        event=f'{{"id": "{id}"}}',
        received_at=1.0,
        **extra,
    )


def session(store: PostgresStore) -> psycopg.Connection[Any]:
    """Another connection on the store's schema, for transactions the test holds open."""
    conn = psycopg.connect(POSTGRES_URL, autocommit=True)
    conn.execute(f'SET search_path TO "{store.schema}"')
    return conn


def insert(conn: psycopg.Connection[Any], id: str) -> None:
    conn.execute(
        "INSERT INTO events (source, id, type, event, received_at) VALUES ('s', %s, 't', '{}', 1)",
        (id,),
    )


def read_all(
    link: PostgresLink, cursor: EventCursor, **options: Any
) -> tuple[list[str], EventCursor]:
    """Every event id the cursor reads now, a page at a time."""
    ids: list[str] = []
    while True:
        routed, cursor = link.events_after(cursor, mine=False, **options)
        if not routed:
            return ids, cursor
        ids += [r.event.id for r in routed]


def test_an_event_committed_late_is_read_once_after_its_commit(
    store: PostgresStore, link: PostgresLink
) -> None:
    cursor = link.cursor()
    with session(store) as slow:
        slow.execute("BEGIN")
        insert(slow, "early-but-slow")  # its pos is drawn now, its commit comes last
        assert store.write([event("quick")]) == [None]
        seen, cursor = read_all(link, cursor)
        assert seen == ["quick"]
        slow.execute("COMMIT")
    seen, cursor = read_all(link, cursor)
    assert seen == ["early-but-slow"]
    assert read_all(link, cursor)[0] == []


def test_a_page_at_a_time_reads_every_event_once(store: PostgresStore, link: PostgresLink) -> None:
    cursor = link.cursor()
    with session(store) as slow:
        slow.execute("BEGIN")
        insert(slow, "held")
        store.write([event(f"e{i}") for i in range(7)])
        seen, cursor = read_all(link, cursor, limit=2)
        slow.execute("COMMIT")
    later, cursor = read_all(link, cursor, limit=2)
    assert seen == [f"e{i}" for i in range(7)]
    assert later == ["held"]


@settings(max_examples=25)
@given(
    st.lists(
        st.tuples(st.sampled_from(["begin", "commit", "rollback", "read"]), st.integers(0, 2)),
        max_size=30,
    )
)
def test_every_committed_event_is_read_exactly_once_whatever_the_interleaving(
    steps: list[tuple[str, int]],
) -> None:
    """Three sessions insert events in transactions that commit or roll back in any order,
    with reads in between: the reads return each committed event once, and nothing else."""
    with fresh_postgres_url() as url, PostgresStore(url) as store:
        link = store.link("reader")
        sessions = [session(store) for _ in range(3)]
        try:
            open_events: list[list[str]] = [[], [], []]
            committed: list[str] = []
            read: list[str] = []
            cursor = link.cursor()
            for number, (op, which) in enumerate(steps):
                conn = sessions[which]
                if op == "begin":
                    if not open_events[which]:
                        conn.execute("BEGIN")
                    open_events[which].append(f"e{number}")
                    insert(conn, f"e{number}")
                elif op in ("commit", "rollback") and open_events[which]:
                    conn.execute(op.upper())
                    if op == "commit":
                        committed += open_events[which]
                    open_events[which] = []
                elif op == "read":
                    more, cursor = read_all(link, cursor, limit=2)
                    read += more
            for which, conn in enumerate(sessions):
                if open_events[which]:
                    conn.execute("COMMIT")
                    committed += open_events[which]
            more, cursor = read_all(link, cursor, limit=2)
            read += more
            assert sorted(read) == sorted(committed)
            assert len(read) == len(set(read))
        finally:
            for conn in sessions:
                conn.close()
            link.close()


def wait(
    instance_id: str, step: int, type: str = "t", subject: str | None = None, **extra: Any
) -> WaitRow:
    return WaitRow(instance_id=instance_id, step=step, type=type, subject=subject, **extra)


def routes(link: PostgresLink, cursor: EventCursor) -> list[tuple[str, str | None, int | None]]:
    routed: list[Routed]
    routed, _ = link.events_after(cursor, mine=False)
    return [
        (
            r.event.id,
            None if r.wait is None else r.wait.instance_id,
            None if r.wait is None else r.wait.step,
        )
        for r in routed
    ]


def test_an_event_comes_with_every_open_wait_it_matches(
    store: PostgresStore, link: PostgresLink
) -> None:
    store.write(
        [
            append("a", 1, new=True, status="waiting", waits_set=(wait("a", 1, subject="x"),)),
            append("b", 1, new=True, status="waiting", waits_set=(wait("b", 1),)),
            append("c", 1, new=True, status="waiting", waits_set=(wait("c", 1, subject="y"),)),
            append("d", 1, new=True, status="waiting", waits_set=(wait("d", 1, type="u"),)),
        ]
    )
    cursor = link.cursor()
    store.write(
        [
            event("untargeted", subject="x"),
            event("targeted", subject="other", instanceid="c"),
            event("nobody", type="v"),
        ]
    )
    assert routes(link, cursor) == [
        ("untargeted", "a", 1),
        ("untargeted", "b", 1),
        ("targeted", "c", 1),
        ("nobody", None, None),
    ]


def waiting(instance_id: str, type: str, subject: str | None = None, **extra: Any) -> Any:
    """The first append of an instance that waits (step 1) for an event of `type`."""
    waits = (wait(instance_id, 1, type=type, subject=subject, **extra),)
    return append(instance_id, 1, new=True, status="waiting", waits_set=waits)


def test_signals_and_messages_match_only_the_waits_open_when_they_were_stored(
    store: PostgresStore, link: PostgresLink
) -> None:
    signal = "trioflow.signal:go"
    store.write([waiting("early", signal), waiting("sub", "m", "k", message="wf")])
    cursor = link.cursor()
    store.write([event("sig", type=signal), event("msg", type="m", subject="k")])
    store.write(
        [
            waiting("late", signal),
            waiting("sub2", "m", "k", message="wf"),
            waiting("plain", "m", "k"),  # not a message subscription: it takes it from the store
        ]
    )
    assert routes(link, cursor) == [("sig", "early", 1), ("msg", "sub", 1), ("msg", "plain", 1)]


def test_a_claimed_instance_is_offered_the_signals_and_messages_its_open_waits_match(
    store: PostgresStore, link: PostgresLink
) -> None:
    signal = "trioflow.signal:go"
    store.write([waiting("early", signal), waiting("first", "m", "k", message="wf")])
    store.write([waiting("second", "m", "k", message="wf"), waiting("plain", "m", "k")])
    store.write([event("sig", type=signal), event("msg", type="m", subject="k")])
    store.write([waiting("late", signal), waiting("third", "m", "k", message="wf")])
    store.write([event("sig2", type=signal), event("other", type="m", subject="j")])

    def ids(instance_id: str) -> list[tuple[int, str]]:
        return [(step, row.id) for step, row in link.missed(instance_id)]

    assert ids("early") == [(1, "sig"), (1, "sig2")]
    assert ids("late") == [(1, "sig2")]  # not the signal sent before it waited
    assert ids("first") == [(1, "msg")]  # the first subscription in line takes a message
    assert ids("second") == ids("third") == []
    assert ids("plain") == []  # a plain wait takes its events from the store on replay


def test_a_command_waits_in_the_inbox_until_it_is_done(
    store: PostgresStore, link: PostgresLink
) -> None:
    listener = Listener(link._conninfo, store.schema, "test", link.channel("owner-b"))
    try:
        pos = link.post_command("i-1", '{"kind": "cancel"}', 5.0, "owner-b")
        assert listener.wait(5.0) == [f"c{pos}"]
        commands = link.commands(mine=False)
        assert [(c.pos, c.instance_id, c.command, c.posted_at) for c in commands] == [
            (pos, "i-1", '{"kind": "cancel"}', 5.0)
        ]
        assert link.commands(mine=False) == commands  # read twice: still there until done
        link.done([pos])
        assert link.commands(mine=False) == []
    finally:
        listener.close()


def test_a_listener_hears_each_notification_on_its_channel_only(link: PostgresLink) -> None:
    mine = link.listener()
    try:
        link.notify(["process-a"], "one")
        link.notify(["process-b"], "not for a")
        link.notify(["process-a", "process-b"], "two")
        heard: list[str] = []
        deadline = time.monotonic() + 5
        while len(heard) < 2 and time.monotonic() < deadline:
            got = mine.wait(1.0)
            assert got != LOST
            heard += got
        assert heard == ["one", "two"]
        assert mine.wait(0.05) == []
    finally:
        mine.close()


def test_a_listener_whose_connection_is_killed_says_lost_then_hears_again(
    link: PostgresLink,
) -> None:
    listener = link.listener()
    try:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (listener.backend_pid,))
        assert listener.wait(2.0) == LOST
        link.notify(["process-a"], "after")
        assert listener.wait(5.0) == ["after"]
    finally:
        listener.close()
    listener.close()  # idempotent


def test_a_message_taken_in_another_process_at_the_same_moment_refuses_the_second_append(
    store: PostgresStore,
) -> None:
    """Another process's transaction stores the correlation first and commits while this
    store's append waits on it: the append is refused, not stored beside it."""
    store.write([append("a", 1, new=True), append("b", 1, new=True)])
    results: list[Any] = []
    with session(store) as other:
        other.execute("BEGIN")
        other.execute(
            "INSERT INTO correlations (source, id, workflow, instance_id)"
            " VALUES ('bank', 'paid', 'wf', 'a')"
        )
        writing = threading.Thread(
            target=lambda: results.extend(
                store.write([append("b", 2, correlated=(("bank", "paid", "wf"),))])
            )
        )
        writing.start()
        writing.join(0.3)
        assert writing.is_alive()  # it waits for the other transaction's outcome
        other.execute("COMMIT")
        writing.join(10)
    [refused] = results
    assert isinstance(refused, MessageTaken)
    assert store.last_seq("b") == 1


def test_a_process_reads_back_the_events_others_stored_not_its_own(
    store: PostgresStore, link: PostgresLink
) -> None:
    assert store.owner is not None
    own = store.link(store.owner)
    try:
        mine, theirs = own.cursor(), link.cursor()
        with session(store) as other:
            insert(other, "stored-elsewhere")
        assert store.write([event("stored-here")]) == [None]
        assert [r.event.id for r in own.events_after(mine)[0]] == ["stored-elsewhere"]
        assert [r.event.id for r in link.events_after(theirs)[0]] == [
            "stored-elsewhere",
            "stored-here",
        ]
    finally:
        own.close()
