"""Errors as problem documents (RFC 9457, ``application/problem+json``).

Every error response of the API comes out of ``problem_for``: one small mapping from
an exception to a status, a title and a detail (``to_problem`` is that mapping as
Quart's error handler). Runtime errors carry their status (``http_status``),
HTTP-level failures raise ``HTTPProblem``, Quart's own errors (unknown route, wrong
method, body too large) are ``HTTPException``s, and anything else is a 500 whose
details go to the log, never to the client.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import apsw
from quart import Response, has_request_context, request
from werkzeug.exceptions import HTTPException

from runtime import InvalidInput, Overloaded, StorageUnavailable, TrioflowError

from ._answer import Answer, answer

PROBLEM_JSON = "application/problem+json"
_log = logging.getLogger("trioflow.api")


class HTTPProblem(Exception):
    """A failure of the HTTP exchange itself (bad body, missing token, ...), not of the runtime.

    ``kind`` names the problem type (``urn:trioflow:problem:<kind>``; None for plain
    HTTP semantics, ``about:blank``); ``extensions`` are extra members of the document.
    """

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        kind: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind
        self.headers = dict(headers or {})
        self.extensions = extensions


def problem_answer(
    status: int,
    detail: str,
    *,
    path: str | None,
    kind: str | None = None,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> Answer:
    """A problem document whose ``instance`` is the request's ``path`` (when there is one).

    A 503 always tells the client when to retry: ``Retry-After`` is 1 second unless given.
    """
    if status == 503 and not any(k.lower() == "retry-after" for k in headers or {}):
        headers = {**(headers or {}), "Retry-After": "1"}
    document: dict[str, Any] = {
        "type": f"urn:trioflow:problem:{kind}" if kind else "about:blank",
        "title": title or _phrase(status),
        "status": status,
        "detail": detail,
    }
    if path is not None:
        document["instance"] = path
    document.update(extensions or {})
    body = json.dumps(document).encode()
    return answer(status, body, content_type=PROBLEM_JSON, before=(headers or {}).items())


def to_problem(exc: Exception) -> Response:
    """Quart's error handler: the problem answer for ``exc`` in the current request."""
    path = request.path if has_request_context() else None
    return problem_for(exc, path).response()


def problem_for(exc: BaseException, path: str | None) -> Answer:
    """The one mapping from an exception to an error answer."""
    if isinstance(exc, HTTPProblem):
        return problem_answer(
            exc.status,
            exc.detail,
            path=path,
            kind=exc.kind,
            headers=exc.headers,
            extensions=exc.extensions,
        )
    if isinstance(exc, HTTPException) and exc.code is not None:
        headers = {k: v for k, v in exc.get_headers() if k.lower() == "allow"}
        detail = exc.description or _phrase(exc.code)
        return problem_answer(exc.code, detail, path=path, title=exc.name, headers=headers)
    if isinstance(exc, apsw.Error):
        return _database_fault(exc, path)
    if isinstance(exc, RecursionError):
        # Request bodies are held to MAX_DEPTH levels; whatever nests past Python's stack
        # anyway came from the request too: a 400, not a crash.
        _log.warning("a request nested too deep for Python's stack", exc_info=exc)
        return problem_answer(
            400, "the request is nested too deeply to process", path=path, kind="invalid-body"
        )
    # Ours carry it (TrioflowError, StoreError, the journal's JournalFull and JournalClosed).
    status: int = getattr(exc, "http_status", 500)
    if status == 503:
        # Backpressure (a full queue), a store that takes no writes, a closing journal:
        # nothing was done, and the client may simply retry after Retry-After seconds.
        return _unavailable(exc, path)
    if isinstance(exc, TrioflowError) and 400 <= status < 500:
        extensions = {"errors": exc.problems} if isinstance(exc, InvalidInput) else {}
        return problem_answer(
            status,
            str(exc),
            path=path,
            kind=_kebab(type(exc).__name__),
            title=_kebab(type(exc).__name__).replace("-", " ").capitalize(),
            extensions=extensions,
        )
    _log.error("unexpected error while serving a request", exc_info=exc)
    return problem_answer(
        500, "an unexpected error occurred; the server log has the details", path=path
    )


def _unavailable(exc: BaseException, path: str | None) -> Answer:
    if isinstance(exc, StorageUnavailable):
        kind, detail = "storage-unavailable", str(exc)
    elif isinstance(exc, Overloaded):
        kind, detail = "overloaded", str(exc)
    else:
        kind, detail = "overloaded", "the service cannot take this now"
    seconds = getattr(exc, "retry_after", 1.0)
    retry_after = str(max(1, math.ceil(seconds)))
    return problem_answer(503, detail, path=path, kind=kind, headers={"Retry-After": retry_after})


def _database_fault(exc: apsw.Error, path: str | None) -> Answer:
    """A read the database failed (a damaged page, an I/O error): the service is not at
    fault with the request, its storage is; ``trioflow check`` tells damage apart."""
    _log.error("the database failed a request", exc_info=exc)
    return problem_answer(
        503,
        f"the database failed this request ({type(exc).__name__}: {exc});"
        " the operator's 'trioflow check' reports whether the file is damaged",
        path=path,
        kind="database-fault",
        headers={"Retry-After": "5"},
    )


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
