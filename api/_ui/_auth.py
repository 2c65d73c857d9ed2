"""Signing in from a browser when the API has a token.

A browser cannot send ``Authorization: Bearer`` on a page load, so ``/ui/login`` takes
the token once and keeps a session value in an ``HttpOnly``, ``SameSite=Strict`` cookie.
The cookie holds a value derived from the token (an HMAC), not the token itself: it
stops working when the token changes, and it cannot be replayed as a bearer token.

What the cookie admits (``BrowserSession.admits``, asked by the middleware before the
bearer check):
- the viewer's pages (GET ``/ui/...``), which ``guard`` sends to the login form when
  the cookie is missing or stale;
- any other route only together with the ``X-CSRF-Token`` header carrying the page's
  CSRF token: the actions on the instance page go through the JSON API that way, and a
  cookie alone authorizes nothing there.
"""

from __future__ import annotations

import hashlib
import hmac
import urllib.parse

import attrs
from quart import Response, request

_COOKIE = "trioflow_session"
_OPEN = ("/ui/login", "/ui/static/")


def _derive(token: bytes, purpose: bytes) -> str:
    return hmac.new(token, b"trioflow ui " + purpose, hashlib.sha256).hexdigest()


@attrs.frozen
class BrowserSession:
    """Cookie sign-in for the viewer; ``token=None`` serves everything open."""

    token: bytes | None

    @property
    def required(self) -> bool:
        return self.token is not None

    @property
    def csrf(self) -> str | None:
        """The CSRF token pages carry (one per API token: it changes when the token does)."""
        return None if self.token is None else _derive(self.token, b"csrf")

    def _session(self) -> str | None:
        return None if self.token is None else _derive(self.token, b"session")

    def signed_in(self) -> bool:
        """Whether the request carries a current session cookie."""
        expected = self._session()
        given = request.cookies.get(_COOKIE, "")
        return expected is not None and hmac.compare_digest(given.encode(), expected.encode())

    def _bearer(self) -> bool:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        return (
            self.token is not None
            and scheme.lower() == "bearer"
            and hmac.compare_digest(_header_bytes(given.strip()), self.token)
        )

    def csrf_ok(self, given: str) -> bool:
        csrf = self.csrf
        return csrf is not None and hmac.compare_digest(given.encode(), csrf.encode())

    def admits(self) -> bool:
        """Whether the request may skip the bearer check (see the module's docstring)."""
        if self.token is None:
            return False
        path = request.path
        if path.startswith(_OPEN):
            return True
        if path == "/ui" or path.startswith("/ui/"):
            # GET pages are guarded by ``guard``; POST /ui/logout checks its own CSRF field.
            return request.method in ("GET", "HEAD") or path == "/ui/logout"
        given = request.headers.get("X-CSRF-Token", "")
        return bool(given) and self.signed_in() and self.csrf_ok(given)

    async def guard(self) -> Response | None:
        """Before every request: a viewer page without a session goes to the login form."""
        path = request.path
        if self.token is None or path.startswith(_OPEN):
            return None
        if path != "/ui" and not path.startswith("/ui/"):
            return None
        if request.method not in ("GET", "HEAD") or self.signed_in() or self._bearer():
            return None
        target = path + ("?" + request.query_string.decode() if request.query_string else "")
        location = "/ui/login?" + urllib.parse.urlencode({"next": target})
        return Response("", status=303, headers={"Location": location})

    def set_cookie(self, response: Response) -> None:
        session = self._session()
        assert session is not None
        response.set_cookie(
            _COOKIE,
            session,
            httponly=True,
            samesite="Strict",
            secure=request.scheme == "https",
            path="/",
        )

    def clear_cookie(self, response: Response) -> None:
        response.delete_cookie(_COOKIE, path="/", httponly=True, samesite="Strict")

    def token_matches(self, given: str) -> bool:
        return self.token is not None and hmac.compare_digest(given.encode(), self.token)


def _header_bytes(value: str) -> bytes:
    """The bytes a client sent for a header value (servers hand them over as Latin-1, one
    character a byte), compared with the token's UTF-8 as the middleware compares them."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return b""


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a viewer page of this server, nowhere else."""
    if not target or not target.startswith("/ui/") or target.startswith("//") or "\\" in target:
        return "/ui/"
    return target
