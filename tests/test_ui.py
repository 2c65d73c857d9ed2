"""The web viewer's pages as HTML: list, filters, counts, paging, the instance page, escaping.

tests/test_ui_browser.py drives the same pages in a real Chromium.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
import trio
import trio.testing
from _ui_flows import SCRIPT, define_changing, ui_fails, ui_flow, ui_gather, ui_pay, ui_sleeps
from _ui_pages import Collector, get_page

from api import create_app
from api._ui import _pages as ui_pages
from api._ui._html import duration, relative
from api._ui._waits import describe
from runtime import STATUSES, Event, Runtime


async def test_the_list_shows_instances_and_filters_them(db: str) -> None:
    async with Runtime.open(db) as rt:
        await rt.result(await rt.start(ui_flow, "<b>hi</b>", instance_id="done-1"), timeout=10)
        await rt.start(ui_pay, "A1", instance_id="waiting-1")
        client = create_app(rt).test_client()
        page = await get_page(client, "/ui/")
        assert "/ui/instances/done-1" in page.links
        assert "/ui/instances/waiting-1" in page.links
        page = await get_page(client, "/ui/?status=waiting")
        assert "/ui/instances/waiting-1" in page.links
        assert "/ui/instances/done-1" not in page.links
        page = await get_page(client, "/ui/?workflow=ui_flow")
        assert page.links.count("/ui/instances/done-1") == 1
        assert "/ui/instances/waiting-1" not in page.links
        page = await get_page(client, "/ui/?id=wait")
        assert "/ui/instances/waiting-1" in page.links
        assert "/ui/instances/done-1" not in page.links
        assert "waiting for event payment-received, subject A1" in page.words


async def test_the_list_counts_every_status_for_the_filters(db: str) -> None:
    async with Runtime.open(db) as rt:
        await rt.result(await rt.start(ui_flow, "x", instance_id="a-1"), timeout=10)
        await rt.start(ui_pay, "A1", instance_id="a-2")
        await rt.start(ui_pay, "A2", instance_id="b-1")
        client = create_app(rt).test_client()
        response = await client.get("/ui/?id=a-")
        body = await response.get_data(as_text=True)
        counts = dict(re.findall(r"data-status='([a-z]+)'>(\d+)<", body))
        assert list(counts) == ["all", *STATUSES]
        assert counts["all"] == "2" and counts["waiting"] == "1" and counts["completed"] == "1"
        assert counts["failed"] == "0"
        # The status links keep the other filters.
        assert "/ui/?id=a-&amp;status=waiting" in body


async def test_the_list_pages_forwards_and_back_latest_update_first(db: str) -> None:
    async with Runtime.open(db) as rt:
        for n in range(55):
            await rt.start(ui_pay, f"w{n:02}", instance_id=f"w{n:02}")
        client = create_app(rt).test_client()
        first = await get_page(client, "/ui/")
        assert "/ui/instances/w54" in first.links  # the latest update comes first
        more = [link for link in first.links if "cursor=" in link]
        assert len(more) == 1
        second = await get_page(client, more[0])
        assert "/ui/instances/w00" in second.links and "/ui/instances/w54" not in second.links
        back = [link for link in second.links if "cursor=" in link]
        assert len(back) == 1  # the last page links back only
        again = await get_page(client, back[0])
        assert "/ui/instances/w54" in again.links and "/ui/instances/w00" not in again.links
        for sort in ("created", "updated"):  # first created, least recently updated
            oldest = await get_page(client, f"/ui/?sort={sort}")
            assert "/ui/instances/w00" in oldest.links and "/ui/instances/w54" not in oldest.links
        await rt.publish(Event(type="payment-received", subject="w00"))
        await rt.result("w00", timeout=10)
        latest = await get_page(client, "/ui/")
        assert latest.links.index("/ui/instances/w00") < latest.links.index("/ui/instances/w54")


async def test_bad_list_queries_are_400_pages_naming_the_parameter(db: str) -> None:
    async with Runtime.open(db) as rt:
        client = create_app(rt).test_client()
        for query, name in [
            ("status=lost", "status"),
            ("sort=name", "sort"),
            ("cursor=x", "cursor"),
        ]:
            page = await get_page(client, f"/ui/?{query}", status=400)
            assert f"{name}:" in page.words


async def test_waits_read_as_sentences_with_times(db: str) -> None:
    async with Runtime.open(db) as rt:
        await rt.start(ui_pay, "A2", instance_id="pay")
        await rt.start(ui_sleeps, instance_id="sleep")
        client = create_app(rt).test_client()
        page = await get_page(client, "/ui/instances/pay")
        assert "waiting for event payment-received, subject A2" in page.words
        page = await get_page(client, "/ui/instances/sleep")
        assert re.search(
            r"timer fires in (59 min \d+ s|60 min|1 h) \(\d\d:\d\d:\d\d UTC\)", page.words
        )
        # Times are ISO with their offset, and relative.
        assert re.search(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00 (now|\d+ ms ago|[\d.]+ s ago)", page.words
        )
        assert "fire_at" not in page.words


async def test_the_journal_is_a_timeline_with_attempts_and_folded_payloads(db: str) -> None:
    async with Runtime.open(db) as rt:
        iid = await rt.start(ui_gather, "timeline", instance_id="g")
        assert await rt.result(iid, timeout=10) == ["A", "B", "ok"]
        client = create_app(rt).test_client()
        response = await client.get("/ui/instances/g")
        body = await response.get_data(as_text=True)
        page = Collector()
        page.feed(body)
        words = page.words
        assert (
            "attempt 1 of activity ui_flaky failed (step 3):"
            " ConnectionError: gateway down for timeline (will be retried)" in words
        )
        assert "activity ui_flaky completed (step 3), attempt 2" in words
        assert re.search(r"\+\d+(\.\d+)? (ms|s)", words)  # the time between records
        assert body.count("<details>") >= 5  # arguments, results, input, output
        assert "<summary>arguments</summary>" in body and "<summary>result</summary>" in body
        # The steps: one activity, then a gather of two, the second retried once.
        assert "completed activity ui_step step 1" in words
        assert "together gather of 2 steps" in words
        assert "attempt 1: ConnectionError: gateway down for timeline attempt 2: ok" in words


async def test_user_values_are_shown_as_text_never_as_markup(db: str) -> None:
    evil_id = "x\"'><script>window.pwned='id'<\\script>"
    async with Runtime.open(db) as rt:
        await rt.start(ui_pay, "A3", instance_id=evil_id)
        await rt.publish(
            Event(type="payment-received", subject="A3", data={"note": SCRIPT.format("data")})
        )
        await rt.result(evil_id, timeout=10)
        failing = await rt.start(ui_fails, SCRIPT.format("input"), instance_id="fails")
        await rt.start(ui_pay, "<b>", instance_id="x<b>")
        client = create_app(rt).test_client()
        pages = [
            await (await client.get("/ui/")).get_data(as_text=True),
            await (await client.get("/ui/instances/" + evil_id.replace("\\", "%5C"))).get_data(
                as_text=True
            ),
            await (await client.get(f"/ui/instances/{failing}")).get_data(as_text=True),
        ]
        for body in pages:
            assert "<script>window" not in body
            assert "<script" not in body.replace("<script src='/ui/static/ui.js' defer>", "")
        assert "&lt;script&gt;window.pwned=&#x27;data&#x27;&lt;/script&gt;" in pages[1]
        assert "&lt;script&gt;window.pwned=&#x27;error&#x27;" in pages[2]
        page = Collector()
        page.feed(pages[2])
        assert "ValueError: <script>window.pwned='error'</script>" in page.words


async def test_an_unknown_instance_page_is_a_404_problem(db: str) -> None:
    async with Runtime.open(db) as rt:
        response = await create_app(rt).test_client().get("/ui/instances/ghost")
        assert response.status_code == 404
        assert response.content_type == "application/problem+json"


async def test_pages_answer_304_until_the_instance_changes(db: str) -> None:
    async with Runtime.open(db) as rt:
        await rt.start(ui_pay, "A4", instance_id="live")
        client = create_app(rt).test_client()
        first = await client.get("/ui/instances/live")
        etag = first.headers["ETag"]
        again = await client.get("/ui/instances/live", headers={"If-None-Match": etag})
        assert again.status_code == 304
        listed = await client.get("/ui/")
        same = await client.get("/ui/", headers={"If-None-Match": listed.headers["ETag"]})
        assert same.status_code == 304
        await rt.publish(Event(type="payment-received", subject="A4"))
        await rt.result("live", timeout=10)
        changed = await client.get("/ui/instances/live", headers={"If-None-Match": etag})
        assert changed.status_code == 200
        assert "workflow_completed" in await changed.get_data(as_text=True)
        moved = await client.get("/ui/", headers={"If-None-Match": listed.headers["ETag"]})
        assert moved.status_code == 200


async def test_actions_are_offered_by_status(db: str) -> None:
    async with Runtime.open(db) as rt:
        await rt.start(ui_pay, "A5", instance_id="open")
        await rt.result(await rt.start(ui_flow, "x", instance_id="done"), timeout=10)
        client = create_app(rt).test_client()

        def offered(page: Collector) -> list[str]:
            return [
                str(attrs["data-action"])
                for tag, attrs in page.tags
                if tag == "form" and "data-action" in attrs and "hidden" not in attrs
            ]

        assert offered(await get_page(client, "/ui/instances/open")) == ["events", "cancel"]
        assert offered(await get_page(client, "/ui/instances/done")) == []


async def test_a_suspended_instance_shows_why_and_offers_resume(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    define_changing("v1")
    async with Runtime.open(db) as rt:
        await rt.start("ui_changing", instance_id="changing")
        with trio.move_on_after(1):  # it sleeps an hour
            await rt.result("changing")
        assert (await rt.get("changing")).status == "waiting"
    define_changing("v2")
    try:
        async with Runtime.open(db) as rt:
            assert (await rt.get("changing")).status == "suspended"
            client = create_app(rt).test_client()
            page = await get_page(client, "/ui/instances/changing")
            assert (
                "Error NonDeterminismError: nondeterminism at step 1: the journal recorded"
                " activity ui_step('v1'), the code now issues activity ui_step('v2')"
            ) in page.words
            resume = [a for t, a in page.tags if t == "form" and a.get("data-action") == "resume"]
            assert resume and "hidden" not in resume[0]
    finally:
        define_changing("v1")


def test_durations_and_relative_times_read_as_a_person_says_them() -> None:
    now = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
    later = now + dt.timedelta(minutes=4, seconds=12)
    assert relative(later, now) == "in 4 min 12 s"
    assert relative(now - dt.timedelta(minutes=3), now) == "3 min ago"
    assert relative(now, now) == "now"
    assert duration(0.25) == "250 ms" and duration(2.5) == "2.5 s" and duration(3) == "3 s"
    assert duration(3600) == "1 h" and duration(90061) == "1 d 1 h"
    assert describe({"kind": "timer", "fire_at": later.timestamp()}, now).startswith(
        f"timer fires <span class=rel data-at='{later.timestamp()!r}'>in 4 min 12 s</span>"
        " (<time datetime='2026-12-06T12:04:12+00:00'>12:04:12 UTC</time>)"
    )
    tomorrow = describe({"kind": "timer", "fire_at": (now + dt.timedelta(days=1)).timestamp()}, now)
    assert "2026-12-07 12:00:00 UTC" in tomorrow and "in 1 d" in tomorrow


async def test_a_long_journal_shows_its_latest_records_and_links_to_all(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with Runtime.open(db) as rt:
        await rt.start(ui_pay, "L", instance_id="long")
        client = create_app(rt).test_client()
        monkeypatch.setattr(ui_pages, "JOURNAL_SHOWN", 1)
        page = await get_page(client, "/ui/instances/long")
        assert "The last 1 of 2 records; show all of them." in page.words
        assert "/ui/instances/long?journal=all" in page.links
        assert "workflow_started" not in page.words and "wait_started" in page.words
        whole = await get_page(client, "/ui/instances/long?journal=all")
        assert "show all of them" not in whole.words and "workflow_started" in whole.words
