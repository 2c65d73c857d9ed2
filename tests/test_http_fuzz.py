"""Fuzzing every route of a real ``trioflow serve`` process, driven by its ``/openapi.json``.

Two generators, one rule. Schemathesis reads the document the server serves and makes
requests for each operation, both ones that fit the document and ones that break it
(wrong types, missing fields, unknown parameters). Hypothesis, directly, makes what no
schema describes: bodies nested thousands deep, lone surrogates as JSON escapes and raw
bytes, numbers past every range, JSON cut short or garbled, bytes that are no JSON at
all, the wrong content type for the route, CloudEvents in every mode with broken
attributes, and Idempotency-Key values that are not UTF-8. The rule for every answer:
never a 5xx; an error is ``application/problem+json`` carrying its own status (the
viewer at ``/ui/`` answers a person with an HTML page); the status is one the document
lists for the operation; and the server is still alive afterwards.

The examples are bounded (a few seconds each) so that the suite runs them every time.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

ROOT = Path(__file__).resolve().parent.parent
KNOWN_IDS = ("fuzz-waiting", "fuzz-done")
KNOWN = (None, *KNOWN_IDS)


def bounded(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


@attrs.frozen
class Served:
    base: str
    process: subprocess.Popen[bytes]
    document: dict[str, Any]
    log: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``trioflow serve tests/fuzz_app.py`` on a free port, with an instance of each kind."""
    folder = tmp_path_factory.mktemp("fuzz")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = folder / "server.log"
    command = [sys.executable, "-m", "api", "serve", "tests/fuzz_app.py"]
    command += ["--db", str(folder / "fuzz.db"), "--port", str(port)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("TRIOFLOW_TOKEN", None)
    with log.open("wb") as stderr:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=stderr)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:  # another process: poll its health route
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.05)
        key = {"Idempotency-Key": KNOWN_IDS[0]}
        assert httpx.post(f"{base}/workflows/waits", headers=key).status_code == 202
        key = {"Idempotency-Key": KNOWN_IDS[1]}
        assert httpx.post(f"{base}/workflows/echo", json=1, headers=key).status_code == 202
        document = httpx.get(f"{base}/openapi.json").json()
        yield Served(base=base, process=process, document=document, log=log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def check_answer(
    served: Served, method: str, template: str, response: httpx.Response, *, fits: bool
) -> None:
    """The rule every answer meets (see the module docstring). ``fits``: the request fits
    the document, so its status must be one the document lists (a request that does not
    may meet Quart's own 404 or 405 first, say for an id with a '/')."""
    status = response.status_code
    what = f"{method.upper()} {response.request.url} -> {status}: {response.text[:300]}"
    assert status < 500, what
    assert served.process.poll() is None, "the server died"
    documented = served.document["paths"][template][method.lower()]["responses"]
    assert not fits or str(status) in documented, f"undocumented status: {what}"
    if status < 400:
        return
    mimetype = response.headers.get("content-type", "").split(";")[0]
    if template.startswith("/ui/") and mimetype == "text/html":
        return
    assert mimetype == "application/problem+json", what
    problem = response.json()
    assert problem["status"] == status and problem["detail"], what


# --- schemathesis: requests that fit the document, and requests that break it ------------


def test_every_operation_by_the_document(served: Served) -> None:
    schema = schemathesis.openapi.from_url(f"{served.base}/openapi.json")
    for result in schema.get_all_operations():
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            # A route with no input (GET /healthz) has no request that breaks the document.
            with contextlib.suppress(Unsatisfiable):
                fuzz_operation(served, result.ok(), mode)


def fuzz_operation(served: Served, operation: Any, mode: schemathesis.GenerationMode) -> None:
    @bounded(15)
    @given(case=operation.as_strategy(generation_mode=mode), known=st.sampled_from(KNOWN))
    def run(case: Any, known: str | None) -> None:
        if known is not None and "instance_id" in (case.path_parameters or {}):
            case.path_parameters["instance_id"] = known  # an instance that is there
        _shorten_wait(case)
        response = case.call(base_url=served.base, timeout=10)
        fits = mode == schemathesis.GenerationMode.POSITIVE
        check_answer(served, operation.method, operation.path, _httpx(response), fits=fits)

    run()


def _shorten_wait(case: Any) -> None:
    if case.query:
        _shorten_wait_query(case.query)


def _shorten_wait_query(query: dict[str, Any]) -> None:
    """A valid ``wait`` of the result route is served by waiting that long (up to 60 s, more
    than the client's timeout): keep the valid ones short. Invalid ones stay as generated."""
    try:
        seconds = float(query.get("wait", ""))
    except (TypeError, ValueError):
        return
    if 0.2 < seconds <= 60:
        query["wait"] = "0.2"


def _httpx(response: Any) -> httpx.Response:
    """A schemathesis response as an ``httpx.Response`` (one shape for ``check_answer``)."""
    headers = [(name, value) for name, values in response.headers.items() for value in values]
    request = httpx.Request(response.request.method, response.request.url)
    return httpx.Response(
        response.status_code, headers=headers, content=response.content, request=request
    )


# --- Hypothesis: what no schema describes ------------------------------------------------

CONTENT_TYPES = [
    None,
    "application/json",
    "application/cloudevents+json",
    "application/cloudevents-batch+json",
    "application/json; charset=utf-8",
    "application/merge-patch+json",
    "text/plain",
    "text/plain; charset=latin-1",
    "application/xml",
    "multipart/form-data; boundary=x",
    "application/cloudevents+xml",
    "",
]
SURROGATES = st.integers(0xD800, 0xDFFF).map(lambda c: f"\\u{c:04x}")
HUGE_NUMBERS = st.sampled_from(
    ["1e400", "-1e400", "1" * 5000, "0." + "0" * 5000 + "1", "-0", "1E-400", "9" * 300]
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@st.composite
def cloudevents(draw: st.DrawFn) -> dict[str, Any]:
    event: dict[str, Any] = {
        "specversion": draw(st.sampled_from(["1.0", "0.3", 1])),
        "id": draw(st.text(max_size=8) | st.integers()),
        "source": draw(st.sampled_from(["s", "", "x/y"])),
        "type": draw(st.sampled_from(["fuzz.ping", "fuzz.signup", "t", ""])),
    }
    optional = {
        "subject": st.text(max_size=5) | st.none(),
        "data": json_values,
        "instanceid": st.sampled_from([*KNOWN_IDS, "nobody", ""]) | st.integers(),
        "time": st.sampled_from(["2024-05-01T12:00:00Z", "yesterday", "2024-02-30T00:00:00Z"]),
        "datacontenttype": st.just("application/json"),
        "Bad-Name": st.just(1),
        "data_base64": st.just("AA=="),
    }
    for name, values in optional.items():
        if draw(st.booleans()):
            event[name] = draw(values)
    for name in draw(st.sets(st.sampled_from(["id", "source", "type", "specversion"]))):
        del event[name]
    return event


def _deep(levels: int, objects: bool) -> str:
    if objects:
        return '{"a":' * levels + "1" + "}" * levels
    return "[" * levels + "]" * levels


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    kind = draw(
        st.sampled_from(
            ["json", "event", "batch", "deep", "surrogate", "huge", "cut", "garbage", "empty"]
        )
    )
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    if kind == "event":
        return json.dumps(draw(cloudevents())).encode()
    if kind == "batch":
        return json.dumps(draw(st.lists(cloudevents(), max_size=4))).encode()
    if kind == "deep":
        levels = draw(st.sampled_from([99, 100, 101, 150, 999, 1000, 1001, 5000, 50_000]))
        deep = _deep(levels, draw(st.booleans()))
        return draw(st.sampled_from([deep, f'{{"name": "x", "n": {deep}}}'])).encode()
    if kind == "surrogate":
        escape = draw(SURROGATES)
        raw = draw(st.sampled_from(["\\ud800", escape, "\udfff"]))
        body = draw(
            st.sampled_from(
                [
                    f'"{raw}"',
                    f'{{"{raw}": 1}}',
                    json.dumps(draw(cloudevents())).replace('"s"', f'"{raw}"', 1),
                    f'{{"type": "fuzz.ping", "subject": "{raw}"}}',
                ]
            )
        )
        return body.encode("utf-8", "surrogatepass")
    if kind == "huge":
        number = draw(HUGE_NUMBERS)
        return draw(st.sampled_from([number, f'{{"order_id": "a", "amount": {number}}}'])).encode()
    if kind == "cut":
        text = json.dumps(draw(cloudevents()))
        cut = draw(st.integers(0, len(text)))
        return text[:cut].encode() + draw(st.binary(max_size=3))
    if kind == "garbage":
        return draw(st.binary(max_size=64))
    return b""


def header_bytes() -> st.SearchStrategy[bytes]:
    """Header values h11 will send: visible ASCII and bytes past 0x7f, no controls."""
    return st.binary(min_size=1, max_size=16).map(
        lambda b: bytes(c if 0x21 <= c <= 0xFF and c != 0x7F else 0x41 for c in b)
    )


@st.composite
def requests(draw: st.DrawFn, document: dict[str, Any]) -> tuple[str, str, httpx.Request]:
    operations = [(t, m) for t, methods in document["paths"].items() for m in methods]
    # Bodies reach the POST routes only: they are drawn three times as often.
    weighted = sorted(operations + 2 * [(t, m) for t, m in operations if m == "post"])
    template, operation = draw(st.sampled_from(weighted))
    path = template
    known = st.sampled_from([*KNOWN_IDS, "echo", "typed", "waits", "on_signup"])
    for name in re.findall(r"\{(\w+)\}", template):
        value = draw(known | known | known | st.text(min_size=1))
        path = path.replace(f"{{{name}}}", urllib.parse.quote(value, safe=""))
    query = {
        name: draw(st.text(max_size=8) | st.sampled_from(["-1", "1e9", "nan", "abc", "500"]))
        for name in draw(st.sets(st.sampled_from(["status", "limit", "cursor", "wait", "x"])))
    }
    _shorten_wait_query(query)
    headers: dict[str, bytes] = {}
    content_type = draw(st.sampled_from(CONTENT_TYPES))
    if content_type is not None:
        headers["content-type"] = content_type.encode()
    if draw(st.booleans()):
        headers["idempotency-key"] = draw(header_bytes())
    if draw(st.booleans()):  # binary mode CloudEvent attributes
        for name in draw(st.sets(st.sampled_from(["specversion", "id", "source", "type"]))):
            headers[f"ce-{name}"] = draw(header_bytes() | st.sampled_from([b"1.0", b"%ED%A0%80"]))
    body = draw(bodies())
    url = f"http://fuzz{path}"
    request = httpx.Request(
        operation.upper(), url, params=query, headers=headers, content=body or None
    )
    return operation, template, request


def test_garbage_deep_and_broken_requests(served: Served) -> None:
    with httpx.Client(base_url=served.base, timeout=10) as client:

        @bounded(400)
        @given(drawn=requests(served.document))
        def run(drawn: tuple[str, str, httpx.Request]) -> None:
            operation, template, request = drawn
            url = request.url.copy_with(
                scheme="http", host="127.0.0.1", port=httpx.URL(served.base).port
            )
            request = httpx.Request(
                request.method, url, headers=request.headers, content=request.content
            )
            response = client.send(request)
            check_answer(served, operation, template, response, fits=False)

        run()
