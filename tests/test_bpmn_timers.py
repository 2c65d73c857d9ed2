"""ISO 8601 timer definitions, static or from FEEL, and their errors."""

from __future__ import annotations

import datetime as dt

import pytest

from runtime.bpmn import (
    BpmnError,
    Cycle,
    TimerError,
    TimerEventDefinition,
    first_due,
    parse_cycle,
    parse_date,
    parse_duration,
)

NEW_YEAR = dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("PT5M", 300),
        ("PT10S", 10),
        ("PT0.5S", 0.5),
        ("PT0,25S", 0.25),
        ("PT1H30M", 5400),
        ("P1D", 86400),
        ("P1DT2H", 93600),
        ("P2W", 1_209_600),
        ("PT1.5H", 5400),
        ("P0D", 0),
        ("  PT1M  ", 60),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("5 minutes", "is not an ISO 8601 duration like 'PT5M'"),
        ("P", "is not an ISO 8601 duration"),
        ("PT", "is not an ISO 8601 duration"),
        ("P1DT", "is not an ISO 8601 duration"),
        ("PT5", "is not an ISO 8601 duration"),
        ("-PT5M", "negative durations are not allowed"),
        ("P1M", "uses years or months"),
        ("P1Y2D", "uses years or months"),
        ("", "is not an ISO 8601 duration"),
    ],
)
def test_bad_durations(text: str, message: str) -> None:
    with pytest.raises(TimerError, match=message):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "epoch"),
    [
        ("2026-01-01T00:00:00Z", NEW_YEAR),
        ("2026-01-01T01:00:00+01:00", NEW_YEAR),
        ("2025-12-31T19:00:00-05:00", NEW_YEAR),
        ("2026-01-01T00:00:00.250Z", NEW_YEAR + 0.25),
    ],
)
def test_dates(text: str, epoch: float) -> None:
    assert parse_date(text) == epoch


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-01-01T00:00:00", "needs a time and a time zone"),
        ("2026-01-01", "needs a time and a time zone"),
        ("tomorrow", "is not an ISO 8601 date and time"),
        ("2026-13-01T00:00:00Z", "is not an ISO 8601 date and time"),
        ("2026-01-01T00:00:00@Europe/Berlin", "zone ids are not supported"),
    ],
)
def test_bad_dates(text: str, message: str) -> None:
    with pytest.raises(TimerError, match=message):
        parse_date(text)


@pytest.mark.parametrize(
    ("text", "cycle"),
    [
        ("R3/PT10S", Cycle(repetitions=3, interval=10)),
        ("R/PT1M", Cycle(repetitions=None, interval=60)),
        ("R1/P1D", Cycle(repetitions=1, interval=86400)),
        (
            "R2/2026-01-01T00:00:00Z/PT1H",
            Cycle(repetitions=2, interval=3600, start=NEW_YEAR),
        ),
    ],
)
def test_cycles(text: str, cycle: Cycle) -> None:
    assert parse_cycle(text) == cycle


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("PT10S", "is not an ISO 8601 repeating interval"),
        ("R3", "is not an ISO 8601 repeating interval"),
        ("Rx/PT1S", "is not an ISO 8601 repeating interval"),
        ("R/PT1M/2026-01-01T00:00:00Z/x", "is not an ISO 8601 repeating interval"),
        ("0 0 * * * ?", "cron expressions are not supported"),
        ("R0/PT1S", "must repeat at least once"),
        ("R/P0D", "needs an interval longer than zero"),
        ("R/PT1M/2026-01-01T00:00:00Z", "an end date is not supported"),
        ("R2/2026-01-01T00:00:00/PT1H", "needs a time and a time zone"),
        ("R2/PT1Q", "is not an ISO 8601 duration"),
    ],
)
def test_bad_cycles(text: str, message: str) -> None:
    with pytest.raises(TimerError, match=message):
        parse_cycle(text)


def test_a_cycle_counts_its_repetitions() -> None:
    cycle = parse_cycle("R3/PT10S")
    first = cycle.first_due(armed_at=100)
    assert first == 110
    assert cycle.next_due(first, fired=1) == 120
    assert cycle.next_due(120, fired=2) == 130
    assert cycle.next_due(130, fired=3) is None


def test_an_unbounded_cycle_never_ends_and_a_start_date_fixes_the_first_firing() -> None:
    assert parse_cycle("R/PT1M").next_due(60, fired=10_000) == 120
    assert parse_cycle("R2/2026-01-01T00:00:00Z/PT1H").first_due(armed_at=0) == NEW_YEAR


def test_feel_expressions_are_evaluated_first() -> None:
    variables = {"wait": "PT2M", "minutes": 3, "when": "2026-01-01T00:00:00Z", "every": 30}
    assert parse_duration("=wait", variables) == 120
    assert parse_duration('=duration("PT1M") * minutes', variables) == 180
    assert parse_duration('="PT" + string(minutes) + "M"', variables) == 180
    assert parse_date("=when", variables) == NEW_YEAR
    assert parse_date('=date and time("2026-01-01T00:00:00Z")', {}) == NEW_YEAR
    assert parse_cycle('="R2/PT" + string(every) + "S"', variables) == Cycle(
        repetitions=2, interval=30
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: parse_duration("=minutes", {"minutes": 5}), r"gave 5 \(number\), not a duration"),
        (lambda: parse_duration("=missing"), r"gave null \(null\)"),
        (lambda: parse_duration("=wait", {"wait": "soon"}), "is not an ISO 8601 duration"),
        (lambda: parse_duration("=1 +"), "unexpected end of expression at position 4"),
        (lambda: parse_date("=5"), r"gave 5 \(number\), not a date and time"),
        (
            lambda: parse_date('=date and time("2026-01-01T00:00:00")'),
            "without a time zone",
        ),
        (lambda: parse_cycle("=[1]"), r"gave \[1\] \(list\), not a string"),
    ],
)
def test_feel_timer_errors(call: object, message: str) -> None:
    with pytest.raises(TimerError, match=message):
        call()  # type: ignore[operator]


def test_first_due_for_each_kind() -> None:
    def timer(kind: str, text: str) -> TimerEventDefinition:
        return TimerEventDefinition(kind=kind, expression=text)  # type: ignore[arg-type]

    assert first_due(timer("duration", "PT5M"), now=1000) == 1300
    assert first_due(timer("date", "2026-01-01T00:00:00Z"), now=1000) == NEW_YEAR
    assert first_due(timer("cycle", "R/PT1M"), now=1000) == 1060
    assert first_due(timer("duration", "=d"), now=0, variables={"d": "PT1S"}) == 1


def test_timer_errors_are_bpmn_errors() -> None:
    with pytest.raises(BpmnError):
        parse_duration("soon")


def test_due_after_gives_the_first_firing_strictly_after_a_moment() -> None:
    relative = Cycle(repetitions=3, interval=10.0)  # armed at 0
    assert [relative.due_after(t) for t in (float("-inf"), 0, 10, 19.5, 29.9, 30)] == [
        10,
        10,
        20,
        20,
        30,
        None,
    ]
    forever = Cycle(repetitions=None, interval=0.1, start=NEW_YEAR)
    assert forever.due_after(NEW_YEAR - 1) == NEW_YEAR
    due = forever.due_after(NEW_YEAR + 86400)
    assert due is not None and NEW_YEAR + 86400 < due <= NEW_YEAR + 86400.1 + 1e-6
