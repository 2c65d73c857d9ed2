"""The web viewer (``/ui``): server-rendered pages, a small script, no framework.

``/ui/`` lists instances (counts by status, search by id prefix, filters, paging both
ways, newest activity first); ``/ui/instances/<id>`` shows one instance: what it waits
for in words, its steps, its journal as a timeline and, for a BPMN instance, its
diagram with the state drawn on it. Both refresh themselves (``_pages``). The instance
page's actions (``_actions``) go through the JSON API. With a token, ``/ui/login``
signs a browser in (``_auth``).
"""

from __future__ import annotations

from importlib import resources

import attrs
from quart import Response, request

from runtime import Runtime

from .._problems import HTTPProblem
from ._auth import BrowserSession, safe_next
from ._html import esc, page
from ._pages import DiagramRenderer, instance_list, instance_page

_STATIC = {"ui.js": "text/javascript", "ui.css": "text/css"}

__all__ = ["BrowserSession", "Console"]


@attrs.frozen(kw_only=True)
class Console:
    """The viewer's routes; ``session`` decides who may use them."""

    runtime: Runtime
    session: BrowserSession
    diagram: DiagramRenderer | None = None

    async def instances(self) -> Response:
        return await instance_list(self.runtime, self.session)

    async def instance(self, instance_id: str) -> Response:
        return await instance_page(self.runtime, instance_id, self.session, self.diagram)

    async def login_form(self) -> Response:
        if not self.session.required:
            return Response("", status=303, headers={"Location": "/ui/"})
        return _login_page(request.args.get("next"), None)

    async def login(self) -> Response:
        form = await request.form
        target = safe_next(form.get("next"))
        if not self.session.required:
            return Response("", status=303, headers={"Location": target})
        if not self.session.token_matches(form.get("token", "")):
            return _login_page(target, "That token is not valid.", status=401)
        response = Response("", status=303, headers={"Location": target})
        self.session.set_cookie(response)
        return response

    async def logout(self) -> Response:
        form = await request.form
        if self.session.required and not self.session.csrf_ok(form.get("csrf", "")):
            body = "<p class=error role=alert>The form is stale: reload the page and try again.</p>"
            return page("Sign out", body, status=403)
        response = Response("", status=303, headers={"Location": "/ui/login"})
        self.session.clear_cookie(response)
        return response

    async def static(self, name: str) -> Response:
        if name not in _STATIC:
            raise HTTPProblem(404, f"the viewer has no file {name!r}", kind="not-found")
        data = resources.files(__package__).joinpath("static", name).read_bytes()
        response = Response(data, content_type=f"{_STATIC[name]}; charset=utf-8")
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def _login_page(target: str | None, problem: str | None, status: int = 200) -> Response:
    alert = f"<p class=error role=alert>{esc(problem)}</p>" if problem else ""
    body = (
        f"{alert}<form method=post action='/ui/login' class=login>"
        f"<input type=hidden name=next value='{esc(safe_next(target))}'>"
        "<div class=field><label for=token>API token</label>"
        "<input id=token name=token type=password autocomplete=current-password required"
        " autofocus></div><button type=submit>Sign in</button></form>"
        "<p>The token is the one the server was started with (<code>--token</code> or"
        " <code>TRIOFLOW_TOKEN</code>); this browser keeps a session cookie, not the token.</p>"
    )
    return page("Sign in", body, status=status)
