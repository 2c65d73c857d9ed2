"""The viewer in a real Chromium, driven by Playwright: click, type, confirm, sign in.

Playwright's synchronous API runs in a worker thread while the server and the runtime
run on Trio in the test's own thread. It drives the system Chromium
(``executable_path``), so nothing is downloaded. A failing test leaves a screenshot of
the page under the test's tmp path and prints where.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
from _ui_flows import SCRIPT, define_changing, ui_pay, ui_sleeps
from test_bpmn_incidents import charging

from api import create_app, serve
from runtime import Registry, Runtime, bpmn

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
try:
    from playwright.sync_api import Page, expect, sync_playwright
except ImportError:  # pragma: no cover - the test extra installs it
    sync_playwright = None

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt install chromium)"),
    pytest.mark.skipif(
        sync_playwright is None, reason="Playwright is not installed (pip install -e '.[test]')"
    ),
]
TOKEN = "browser-token"
WAIT_MS = 8_000


@contextlib.asynccontextmanager
async def served(rt: Runtime, token: str | None = None) -> AsyncIterator[str]:
    """The app on a free port of 127.0.0.1; its base URL."""
    app = create_app(rt, token=token)
    async with trio.open_nursery() as nursery:
        addresses = await nursery.start(
            lambda task_status: serve(app, host="127.0.0.1", port=0, task_status=task_status)
        )
        yield addresses[0]
        nursery.cancel_scope.cancel()


@contextlib.contextmanager
def browser_page(shots: Path, name: str) -> Iterator[Page]:
    """A fresh page in a headless Chromium; a screenshot under ``shots`` if the block fails."""
    assert sync_playwright is not None and CHROMIUM is not None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.set_default_timeout(WAIT_MS)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            try:
                yield page
                assert errors == [], errors  # the page's script never threw
            except BaseException:
                shots.mkdir(parents=True, exist_ok=True)
                path = shots / f"{name}.png"
                with contextlib.suppress(Exception):
                    page.screenshot(path=str(path), full_page=True)
                    print(f"screenshot of the failing page: {path}")
                raise
        finally:
            browser.close()


def unlabelled(page: Page) -> list[str]:
    """Form controls a screen reader could not name (no label, no aria-label)."""
    result: list[str] = page.evaluate(
        """[...document.querySelectorAll("input:not([type=hidden]), select, textarea")]
             .filter(c => c.labels.length === 0 && !c.getAttribute("aria-label"))
             .map(c => c.outerHTML)"""
    )
    return result


async def in_browser(tmp_path: Path, name: str, script: Callable[[Page], Any]) -> None:
    def run() -> None:
        with browser_page(tmp_path / "screenshots", name) as page:
            script(page)

    await trio.to_thread.run_sync(run)


async def test_list_open_an_instance_send_its_event_and_see_it_complete(
    db: str, tmp_path: Path
) -> None:
    evil = "evil<script>window.pwned='id'<\\script>"
    async with Runtime.open(db) as rt, served(rt) as base:
        await rt.start(ui_pay, "A2", instance_id="order-A2")
        await rt.start(ui_pay, "A9", instance_id=evil)
        await rt.start(ui_sleeps, instance_id="sleeper")

        def script(page: Page) -> None:
            page.goto(f"{base}/ui/")
            expect(page.locator(".counts [data-status=waiting]")).to_have_text("3")
            # The list follows the runtime by itself: a new instance appears, counted.
            trio.from_thread.run(functools.partial(rt.start, ui_pay, "L1", instance_id="late"))
            expect(page.locator(".counts [data-status=waiting]")).to_have_text("4")
            expect(page.locator("table.instances tbody tr").first).to_contain_text("late")
            page.get_by_label("Instance id starts with").fill("order-")
            page.get_by_role("button", name="Apply").click()
            expect(page.locator("table.instances tbody tr")).to_have_count(1)
            expect(page.get_by_text(evil)).to_have_count(0)
            assert unlabelled(page) == []
            page.get_by_role("link", name="order-A2").click()
            expect(page.locator("h1")).to_have_text("Instance order-A2")
            assert unlabelled(page) == []
            expect(page.locator(".facts")).to_contain_text(
                "waiting for event payment-received, subject A2"
            )
            form = page.locator("form[data-action=events]")
            form.get_by_label("Type").fill("payment-received")
            form.get_by_label("Subject").fill("A2")
            form.get_by_label("Data (JSON)").fill(
                '{"amount": 9.5, "note": "' + SCRIPT.format("data").replace('"', '\\"') + '"}'
            )
            form.get_by_role("button", name="Send an event").click()
            expect(form.locator(".outcome")).to_contain_text("Done (202)")
            # No reload: the page refreshes itself until the instance has completed.
            expect(page.locator(".now-status")).to_have_text("completed")
            expect(page.locator("form[data-action=events]")).to_be_hidden()
            expect(page.locator("#announce")).to_have_text("The instance is now completed.")
            expect(page.locator(".timeline")).to_contain_text(SCRIPT.format("data"))
            assert page.evaluate("window.pwned") is None
            # A bad JSON body never leaves the page; a problem from the API is shown.
            page.goto(f"{base}/ui/instances/sleeper")
            expect(page.locator(".facts")).to_contain_text("timer fires in 59 min")
            form = page.locator("form[data-action=events]")
            form.get_by_label("Type").fill("x")
            form.get_by_label("Data (JSON)").fill("{oops")
            form.get_by_role("button", name="Send an event").click()
            expect(form.locator(".outcome")).to_contain_text("Data (JSON): not JSON")
            page.goto(f"{base}/ui/instances/evil%3Cscript%3Ewindow.pwned%3D'id'%3C%5Cscript%3E")
            expect(page.locator("h1")).to_have_text(f"Instance {evil}")
            assert page.evaluate("window.pwned") is None

        await in_browser(tmp_path, "send-event", script)
        assert (await rt.get("order-A2")).output == {
            "order": "A2",
            "paid": {"amount": 9.5, "note": SCRIPT.format("data")},
        }


async def test_cancel_from_the_page_after_confirming(db: str, tmp_path: Path) -> None:
    async with Runtime.open(db) as rt, served(rt) as base:
        await rt.start(ui_sleeps, instance_id="to-cancel")

        def script(page: Page) -> None:
            page.goto(f"{base}/ui/instances/to-cancel")
            form = page.locator("form[data-action=cancel]")
            form.get_by_label("Reason").fill("customer <b>asked</b>")
            page.once("dialog", lambda dialog: dialog.dismiss())
            form.get_by_role("button", name="Cancel").click()
            expect(form.locator(".outcome")).to_have_text("Not sent.")
            page.once("dialog", lambda dialog: dialog.accept())
            form.get_by_role("button", name="Cancel").click()
            expect(page.locator(".now-status")).to_have_text("cancelled")
            expect(page.locator(".timeline")).to_contain_text(
                "cancel requested: customer <b>asked</b>"
            )
            # Cancelling again is refused by the API: its problem is shown on the page.
            page.evaluate("document.querySelector('form[data-action=cancel]').hidden = false")
            page.once("dialog", lambda dialog: dialog.accept())
            form.get_by_role("button", name="Cancel").click()
            expect(form.locator(".outcome")).to_contain_text("(409)")

        await in_browser(tmp_path, "cancel", script)
        assert (await rt.get("to-cancel")).status == "cancelled"


async def test_sign_in_act_and_sign_out(db: str, tmp_path: Path) -> None:
    async with Runtime.open(db) as rt, served(rt, token=TOKEN) as base:
        await rt.start(ui_pay, "T1", instance_id="guarded")

        def script(page: Page) -> None:
            page.goto(f"{base}/ui/instances/guarded")
            expect(page.locator("h1")).to_have_text("Sign in")
            page.get_by_label("API token").fill("wrong")
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("alert")).to_have_text("That token is not valid.")
            page.get_by_label("API token").fill(TOKEN)
            page.get_by_role("button", name="Sign in").click()
            expect(page.locator("h1")).to_have_text("Instance guarded")
            cookies = page.context.cookies()
            assert [(c["httpOnly"], c["sameSite"]) for c in cookies] == [(True, "Strict")]
            assert page.evaluate("document.cookie") == ""
            # The cookie alone opens no JSON route; the page's actions carry the CSRF token.
            status = page.evaluate("fetch('/instances').then(r => r.status)")
            assert status == 401
            form = page.locator("form[data-action=events]")
            form.get_by_label("Type").fill("payment-received")
            form.get_by_label("Subject").fill("T1")
            form.get_by_role("button", name="Send an event").click()
            expect(page.locator(".now-status")).to_have_text("completed")
            page.get_by_role("button", name="Sign out").click()
            expect(page.locator("h1")).to_have_text("Sign in")
            page.goto(f"{base}/ui/")
            expect(page.locator("h1")).to_have_text("Sign in")
            # A page whose session ends elsewhere says so instead of going stale silently.
            page.get_by_label("API token").fill(TOKEN)
            page.get_by_role("button", name="Sign in").click()
            expect(page.locator("h1")).to_have_text("Instances")
            page.context.clear_cookies()
            expect(page.locator("#announce")).to_contain_text("Signed out")

        await in_browser(tmp_path, "sign-in", script)
        assert (await rt.get("guarded")).status == "completed"


async def test_resume_a_suspended_instance_from_the_page(db: str, tmp_path: Path) -> None:
    define_changing("v1")
    async with Runtime.open(db) as rt:
        await rt.start("ui_changing", instance_id="changed")  # journals ui_step('v1') at once
    define_changing("v2")
    try:
        async with Runtime.open(db) as rt, served(rt) as base:
            assert (await rt.get("changed")).status == "suspended"

            def script(page: Page) -> None:
                page.goto(f"{base}/ui/instances/changed")
                expect(page.locator(".facts")).to_contain_text("NonDeterminismError")
                form = page.locator("form[data-action=resume]")
                form.get_by_role("button", name="Resume").click()  # the code is still v2
                expect(form.locator(".outcome")).to_contain_text("suspended")
                define_changing("v1")  # the fix is deployed
                form.get_by_role("button", name="Resume").click()
                expect(page.locator(".now-status")).to_have_text("waiting")
                expect(page.locator(".facts")).to_contain_text("timer fires in 59 min")
                expect(form).to_be_hidden()

            await in_browser(tmp_path, "resume", script)
            assert (await rt.get("changed")).status == "waiting"
    finally:
        define_changing("v1")


async def test_resolve_an_incident_from_the_page(db: str, tmp_path: Path) -> None:
    registry = Registry()
    charging(registry, [])
    async with Runtime.open(db, registry=registry) as rt, served(rt) as base:
        iid = await rt.start("incident_charge", {"card": "bad"})

        def script(page: Page) -> None:
            page.goto(f"{base}/ui/instances/{iid}")
            # The handler fails twice (a second apart), then the page refreshes itself.
            expect(page.locator(".now-status")).to_have_text("incident", timeout=3 * WAIT_MS)
            [open_incident] = trio.from_thread.run(rt.get, iid).incidents
            expect(page.locator(".facts")).to_contain_text("card bad declined")
            form = page.locator("form[data-action='incidents/{incident}/resolve']")
            form.get_by_label("Incident").fill(open_incident["id"])
            form.get_by_label("Variables to set first (JSON)").fill('{"card": "good"}')
            form.get_by_role("button", name="Resolve an incident").click()
            expect(form.locator(".outcome")).to_contain_text("Done (202)")
            expect(page.locator(".now-status")).to_have_text("completed")
            expect(form).to_be_hidden()

        await in_browser(tmp_path, "resolve", script)
        assert await rt.result(iid) == {"card": "good", "charged": True}


async def test_a_call_activity_links_to_its_child_and_the_child_back(
    db: str, tmp_path: Path
) -> None:
    registry = Registry()
    shipping = Path(__file__).parent.parent / "examples" / "shipping" / "shipping.bpmn"

    @bpmn.handler("reserve-item", registry=registry)
    async def reserve(variables: dict[str, Any]) -> dict[str, Any]:
        return {"reservation": variables["item"]["sku"]}

    # No charge-card handler: the child stops at an incident, the parent waits for it.
    bpmn.load(shipping, registry=registry)
    async with Runtime.open(db, registry=registry) as rt, served(rt) as base:
        iid = await rt.start("ship-order", {"items": [{"sku": "tea", "price": 4}]})
        child = f"{iid}:Call_Payment:1"

        def script(page: Page) -> None:
            page.goto(f"{base}/ui/instances/{iid}")
            call = page.locator("[data-element-id=Call_Payment] a")
            expect(call).to_have_count(1, timeout=3 * WAIT_MS)
            expect(
                page.locator("[data-element-id=Task_Reserve] .bpmn-instance-count")
            ).to_have_text("1/1")
            call.click()
            expect(page.locator("h1")).to_have_text(f"Instance {child}")
            expect(page.locator(".now-status")).to_have_text("incident", timeout=3 * WAIT_MS)
            page.locator("a.parent-link").click()
            expect(page.locator("h1")).to_have_text(f"Instance {iid}")
            expect(page.locator("a.child-link")).to_have_text(child)

        await in_browser(tmp_path, "call", script)
