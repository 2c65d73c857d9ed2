"""The CloudEvents HTTP binding parser, driven directly: no app, no runtime."""

from __future__ import annotations

import json
from typing import Any

import pytest

from api._cloudevents import BATCH, STRUCTURED, InvalidCloudEvent, is_rfc3339, parse
from api._problems import HTTPProblem
from runtime import Event

REQUIRED = ["specversion", "id", "source", "type"]


def attributes(**changes: Any) -> dict[str, Any]:
    return {"specversion": "1.0", "id": "e-1", "source": "/bank", "type": "paid", **changes}


def structured(**changes: Any) -> list[Event]:
    events, batch = parse(STRUCTURED, [], json.dumps(attributes(**changes)).encode())
    assert not batch
    return events


def ce_headers(**changes: Any) -> list[tuple[str, str]]:
    return [(f"ce-{name}", value) for name, value in attributes(**changes).items()]


def refusal(call: Any, *args: Any, **kwargs: Any) -> HTTPProblem:
    with pytest.raises(HTTPProblem) as info:
        call(*args, **kwargs)
    return info.value


def test_a_structured_event_becomes_an_event() -> None:
    [event] = structured(
        subject="A1",
        time="2024-05-01T12:00:00Z",
        instanceid="order-1",
        data={"amount": 9.5},
        datacontenttype="application/json",
        traceparent="00-abc",
    )
    assert event == Event(
        type="paid",
        source="/bank",
        id="e-1",
        subject="A1",
        time="2024-05-01T12:00:00Z",
        instanceid="order-1",
        data={"amount": 9.5},
    )


def test_a_binary_event_takes_its_attributes_from_ce_headers() -> None:
    headers = [("Content-Type", "application/json"), ("CE-Subject", "A%201"), *ce_headers()]
    [event], batch = parse("application/json", headers, b'{"amount": 1}')
    assert not batch
    assert (event.type, event.source, event.id) == ("paid", "/bank", "e-1")
    assert event.subject == "A 1" and event.data == {"amount": 1}


@pytest.mark.parametrize(
    ("mimetype", "body", "data"),
    [("text/plain", b"hello", "hello"), ("", b"", None), ("", b"[1]", [1])],
)
def test_binary_data_is_json_text_or_nothing(mimetype: str, body: bytes, data: Any) -> None:
    [event], _ = parse(mimetype, ce_headers(), body)
    assert event.data == data


@pytest.mark.parametrize("missing", REQUIRED)
def test_a_missing_required_attribute_is_named_in_every_mode(missing: str) -> None:
    event = {k: v for k, v in attributes().items() if k != missing}
    problem = refusal(parse, STRUCTURED, [], json.dumps(event).encode())
    assert isinstance(problem, InvalidCloudEvent) and problem.status == 400
    assert problem.problems == [(missing, "required attribute is missing")]
    assert problem.extensions["attribute"] == missing

    headers = [(f"ce-{k}", v) for k, v in event.items()]
    problem = refusal(parse, "application/json", headers, b"{}")
    assert problem.extensions["attribute"] == missing


def test_every_problem_is_reported_with_its_attribute() -> None:
    event = {"specversion": "0.3", "id": "", "source": 5, "time": "noon", "Bad": 1}
    problem = refusal(parse, STRUCTURED, [], json.dumps(event).encode())
    assert isinstance(problem, InvalidCloudEvent)
    assert [name for name, _ in problem.problems] == [
        "specversion",
        "id",
        "source",
        "type",
        "time",
        "Bad",
    ]
    assert problem.detail.startswith("specversion: must be '1.0'")


@pytest.mark.parametrize(
    "name", ["Upper", "under_score", "dash-ed", "abcdefghijklmnopqrstu", "caf\u00e9"]
)
def test_extension_names_are_lowercase_letters_and_digits_up_to_20(name: str) -> None:
    problem = refusal(structured, **{name: "x"})
    assert problem.extensions["attribute"] == name


def test_extension_values_are_strings_integers_or_booleans() -> None:
    assert structured(count=3, flag=True, note="x", gone=None)
    for value in (1.5, [1], {"a": 1}):
        assert refusal(structured, **{"ext": value}).extensions["attribute"] == "ext"
    assert refusal(structured, instanceid=7).extensions["attribute"] == "instanceid"


def test_null_optional_attributes_count_as_absent() -> None:
    [event] = structured(subject=None, time=None)
    assert event.subject is None and event.time is None


def test_binary_data_in_structured_mode_is_refused_by_name() -> None:
    problem = refusal(structured, data_base64="AAAA")
    assert problem.extensions["attribute"] == "data_base64"


@pytest.mark.parametrize(
    "text",
    [
        "2024-05-01T12:00:00Z",
        "2024-05-01t12:00:00z",
        "2024-05-01T12:00:00.123456789+02:00",
        "2016-12-31T23:59:60Z",
        "2024-02-29T00:00:00-08:00",
    ],
)
def test_rfc3339_timestamps_are_accepted(text: str) -> None:
    assert is_rfc3339(text)
    assert structured(time=text)


@pytest.mark.parametrize(
    "text",
    [
        "2024-05-01",
        "2024-05-01T12:00:00",
        "2024-05-01 12:00:00Z",
        "2024-13-01T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2024-05-01T24:00:00Z",
        "2024-05-01T12:00:61Z",
        "2024-05-01T12:00:00+24:00",
        "yesterday",
        "\u0662024-05-01T12:00:00Z",
    ],
)
def test_other_timestamps_are_refused(text: str) -> None:
    assert not is_rfc3339(text)
    assert refusal(structured, time=text).extensions["attribute"] == "time"


def test_a_batch_is_checked_whole_and_names_the_bad_index() -> None:
    good = attributes()
    events, batch = parse(BATCH, [], json.dumps([good, good | {"id": "e-2"}]).encode())
    assert batch and [e.id for e in events] == ["e-1", "e-2"]
    bad = [good, good | {"type": ""}]
    problem = refusal(parse, BATCH, [], json.dumps(bad).encode())
    assert problem.extensions["index"] == 1 and problem.extensions["attribute"] == "type"
    assert problem.detail.startswith("event [1]: type")
    for body in (b"{}", b"[1]"):
        assert refusal(parse, BATCH, [], body).status == 400


@pytest.mark.parametrize(
    ("mimetype", "headers", "body"),
    [
        ("application/cloudevents+xml", [], b"<e/>"),
        ("text/plain", [], b"hello"),
        ("application/octet-stream", ce_headers(), b"\x00"),
    ],
)
def test_unsupported_formats_are_415(
    mimetype: str, headers: list[tuple[str, str]], body: bytes
) -> None:
    assert refusal(parse, mimetype, headers, body).status == 415


def test_malformed_bodies_are_400() -> None:
    for mimetype, headers, body in (
        (STRUCTURED, [], b"{nope"),
        (STRUCTURED, [], b"[]"),
        ("application/json", ce_headers(), b"{nope"),
        ("text/plain", ce_headers(), b"\xff"),
    ):
        assert refusal(parse, mimetype, headers, body).status == 400
