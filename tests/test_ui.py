"""The web viewer: instance list with filters, instance page with its journal."""

from __future__ import annotations

import html.parser
import shutil
import subprocess
from typing import Any

import pytest
import trio
import trio.testing

from api import create_app, serve
from runtime import Runtime, WorkflowContext, activity, workflow


@activity
async def ui_step(text: str) -> str:
    return text.upper()


@workflow(name="ui_flow")
async def ui_flow(ctx: WorkflowContext, text: str) -> str:
    return str(await ctx.run(ui_step, text))


@workflow(name="ui_waits")
async def ui_waits(ctx: WorkflowContext) -> None:
    await ctx.wait_event("never")


class Collector(html.parser.HTMLParser):
    """Parses the page (it must be well-formed enough to parse) and keeps links and text."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.links += [v for k, v in attrs if k == "href" and v]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


async def get_page(client: Any, path: str) -> Collector:
    response = await client.get(path)
    assert response.status_code == 200, path
    assert response.content_type.startswith("text/html")
    page = Collector()
    page.feed(await response.get_data(as_text=True))
    return page


async def test_the_list_shows_instances_and_filters_them(db: str) -> None:
    async with Runtime.open(db) as rt:
        done = await rt.start(ui_flow, "<b>hi</b>", instance_id="done-1")
        await rt.result(done, timeout=10)
        waiting = await rt.start(ui_waits, instance_id="waiting-1")
        client = create_app(rt).test_client()
        page = await get_page(client, "/ui/")
        assert "/ui/instances/done-1" in page.links
        assert "/ui/instances/waiting-1" in page.links
        page = await get_page(client, "/ui/?status=waiting")
        assert "/ui/instances/waiting-1" in page.links
        assert "/ui/instances/done-1" not in page.links
        page = await get_page(client, "/ui/?workflow=ui_flow")
        assert page.links.count("/ui/instances/done-1") == 1
        assert waiting


async def test_the_list_pages_with_a_next_link(db: str) -> None:
    async with Runtime.open(db) as rt:
        for n in range(55):
            await rt.start(ui_waits, instance_id=f"w{n:02}")
        client = create_app(rt).test_client()
        first = await get_page(client, "/ui/")
        more = [link for link in first.links if "cursor=" in link]
        assert len(more) == 1
        second = await get_page(client, more[0])
        assert "/ui/instances/w54" in second.links
        assert "/ui/instances/w54" not in first.links


async def test_the_instance_page_shows_its_journal_and_escapes_values(db: str) -> None:
    async with Runtime.open(db) as rt:
        iid = await rt.start(ui_flow, "<b>hi</b>")
        await rt.result(iid, timeout=10)
        client = create_app(rt).test_client()
        response = await client.get(f"/ui/instances/{iid}")
        body = await response.get_data(as_text=True)
        assert "<b>hi</b>" not in body and "&lt;b&gt;hi&lt;/b&gt;" in body
        page = Collector()
        page.feed(body)
        text = " ".join(page.text)
        for kind in ("workflow_started", "activity_scheduled", "workflow_completed"):
            assert kind in text
        assert "completed" in text


async def test_an_unknown_instance_page_is_a_404_problem(db: str) -> None:
    async with Runtime.open(db) as rt:
        response = await create_app(rt).test_client().get("/ui/instances/ghost")
        assert response.status_code == 404
        assert response.content_type == "application/problem+json"


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt install chromium)")
async def test_a_real_browser_renders_the_instance_page(db: str) -> None:
    assert CHROMIUM is not None
    async with Runtime.open(db) as rt:
        iid = await rt.start(ui_flow, "browser")
        await rt.result(iid, timeout=10)
        app = create_app(rt)
        async with trio.open_nursery() as nursery:
            addresses = await nursery.start(
                lambda task_status: serve(app, port=0, task_status=task_status)
            )
            url = addresses[0].replace("0.0.0.0", "127.0.0.1") + f"/ui/instances/{iid}"
            flags = [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
            ]  # fmt: skip
            with trio.fail_after(60):
                result = await trio.run_process(
                    [CHROMIUM, *flags, "--dump-dom", url],
                    capture_stdout=True,
                    stderr=subprocess.DEVNULL,
                )
            nursery.cancel_scope.cancel()
        dom = result.stdout.decode()
        assert f"Instance {iid}" in dom
        assert "workflow_completed" in dom
