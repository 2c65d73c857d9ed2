"""Signing in to the viewer with a token: the cookie, the CSRF token, and what they admit."""

from __future__ import annotations

import re
from typing import Any

from _ui_flows import ui_pay

from api import create_app
from runtime import Runtime

TOKEN = "s3cret token"


def session_cookie(response: Any) -> str:
    header = response.headers["Set-Cookie"]
    assert "HttpOnly" in header and "SameSite=Strict" in header and "Path=/" in header
    assert "s3cret" not in header  # the cookie holds a derived value, not the token
    match = re.match(r"trioflow_session=([0-9a-f]+);", header)
    assert match is not None, header
    return f"trioflow_session={match.group(1)}"


async def signed_in(client: Any) -> tuple[str, str]:
    """(Cookie header, CSRF token) after signing in."""
    response = await client.post("/ui/login", form={"token": TOKEN, "next": "/ui/?id=a"})
    assert response.status_code == 303 and response.headers["Location"] == "/ui/?id=a"
    cookie = session_cookie(response)
    page = await (await client.get("/ui/", headers={"Cookie": cookie})).get_data(as_text=True)
    match = re.search(r"<meta name=csrf-token content='([0-9a-f]+)'>", page)
    assert match is not None
    return cookie, match.group(1)


async def test_pages_send_a_browser_without_a_session_to_the_form(db: str) -> None:
    async with Runtime.open(db) as rt:
        client = create_app(rt, token=TOKEN).test_client(use_cookies=False)
        bare = await client.get("/ui")
        assert bare.status_code == 303 and bare.headers["Location"] == "/ui/login?next=%2Fui"
        response = await client.get("/ui/instances/x?a=1")
        assert response.status_code == 303
        assert response.headers["Location"] == "/ui/login?next=%2Fui%2Finstances%2Fx%3Fa%3D1"
        form = await client.get("/ui/login")
        assert form.status_code == 200
        assert "type=password" in await form.get_data(as_text=True)
        wrong = await client.post("/ui/login", form={"token": "guess"})
        assert wrong.status_code == 401 and "Set-Cookie" not in wrong.headers
        assert "That token is not valid." in await wrong.get_data(as_text=True)
        bearer = await client.get("/ui/", headers={"Authorization": f"Bearer {TOKEN}"})
        assert bearer.status_code == 200


async def test_after_sign_in_is_a_page_of_this_viewer_only(db: str) -> None:
    async with Runtime.open(db) as rt:
        client = create_app(rt, token=TOKEN).test_client(use_cookies=False)
        for target in ["//evil.example/ui/", "https://evil.example/", "/instances", "/ui\\x"]:
            response = await client.post("/ui/login", form={"token": TOKEN, "next": target})
            assert response.headers["Location"] == "/ui/", target


async def test_the_cookie_opens_the_json_api_only_with_the_csrf_token(db: str) -> None:
    async with Runtime.open(db) as rt:
        await rt.start(ui_pay, "A1", instance_id="a1")
        client = create_app(rt, token=TOKEN).test_client(use_cookies=False)
        cookie, csrf = await signed_in(client)
        assert (await client.get("/ui/instances/a1", headers={"Cookie": cookie})).status_code == 200
        alone = await client.get("/instances", headers={"Cookie": cookie})
        assert alone.status_code == 401
        post = await client.post("/instances/a1/cancel", headers={"Cookie": cookie}, json={})
        assert post.status_code == 401
        forged = {"Cookie": cookie, "X-CSRF-Token": "0" * 64}
        assert (
            await client.post("/instances/a1/cancel", headers=forged, json={})
        ).status_code == 401
        no_cookie = {"X-CSRF-Token": csrf}
        assert (
            await client.post("/instances/a1/cancel", headers=no_cookie, json={})
        ).status_code == 401
        both = {"Cookie": cookie, "X-CSRF-Token": csrf}
        response = await client.post("/instances/a1/cancel", headers=both, json={"reason": "r"})
        assert response.status_code == 202
        assert (await rt.get("a1")).status == "cancelled"
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert (await client.get("/instances", headers=bearer)).status_code == 200


async def test_sign_out_needs_the_csrf_token_and_clears_the_cookie(db: str) -> None:
    async with Runtime.open(db) as rt:
        client = create_app(rt, token=TOKEN).test_client(use_cookies=False)
        cookie, csrf = await signed_in(client)
        refused = await client.post("/ui/logout", headers={"Cookie": cookie}, form={})
        assert refused.status_code == 403
        response = await client.post("/ui/logout", headers={"Cookie": cookie}, form={"csrf": csrf})
        assert response.status_code == 303 and response.headers["Location"] == "/ui/login"
        assert "trioflow_session=;" in response.headers["Set-Cookie"]


async def test_without_a_token_there_is_nothing_to_sign_in_to(db: str) -> None:
    async with Runtime.open(db) as rt:
        client = create_app(rt).test_client()
        response = await client.get("/ui/login")
        assert response.status_code == 303 and response.headers["Location"] == "/ui/"
        page = await (await client.get("/ui/")).get_data(as_text=True)
        assert "csrf-token" not in page and "Sign out" not in page


async def test_a_token_beyond_ascii_signs_in_too(db: str) -> None:
    async with Runtime.open(db) as rt:
        client = create_app(rt, token="tökén ✓").test_client(use_cookies=False)
        response = await client.post("/ui/login", form={"token": "tökén ✓"})
        assert response.status_code == 303
        cookie = response.headers["Set-Cookie"].split(";")[0]
        assert (await client.get("/ui/", headers={"Cookie": cookie})).status_code == 200
        assert (await client.post("/ui/login", form={"token": "token ✓"})).status_code == 401
