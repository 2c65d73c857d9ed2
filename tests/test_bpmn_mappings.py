"""zeebe:ioMapping on events: applied with Zeebe's semantics, or refused at load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from runtime import Event, Registry, Runtime, bpmn
from runtime.bpmn import BpmnError

FIXTURES = Path(__file__).parent / "bpmn"
T0 = 1_800_000_000.0


@pytest.fixture
def registry() -> Registry:
    registry = Registry()
    bpmn.load(FIXTURES / "run_mappings.bpmn", registry=registry)
    return registry


async def test_a_loop_counting_through_an_output_mapping_ends_at_three(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    calls: list[int] = []

    @bpmn.handler("count", registry=registry)
    async def count(variables: dict[str, Any]) -> None:
        calls.append(variables["counter"])

    async with Runtime.open(db, registry=registry) as rt:
        iid = await rt.start("mappings_loop", {})
        with trio.fail_after(5):
            assert await rt.result(iid) == {"counter": 3, "score": 30}
        assert calls == [0, 1, 2]
        assert (await rt.replay(iid)).ok


async def test_event_inputs_are_local_and_outputs_merge(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    async with Runtime.open(db, registry=registry, wall_time=lambda: T0) as rt:
        iid = await rt.start("mappings_events", {"orderId": "A1", "minutes": 2})
        with trio.move_on_after(600):  # past the timer: two minutes of mock time
            await rt.result(iid)
        view = await rt.query(iid)
        assert view["active"] == ["Message_Wait"]
        assert view["variables"] == {
            "orderId": "A1",
            "minutes": 2,
            "stage": "started",
            "waited": "PT2M",
        }
        wrong = Event(type="paid", subject="A1", data={"amount": 1})
        assert (await rt.publish(wrong)).delivered == ()  # the key is the input's
        paid = Event(type="paid", subject="order-A1", data={"amount": 20, "note": "x"})
        assert (await rt.publish(paid)).delivered == (iid,)
        assert await rt.result(iid) == {
            "orderId": "A1",
            "minutes": 2,
            "stage": "thrown and caught",
            "waited": "PT2M",
            "paid": 20,
            "paidFor": "order-A1",
            "total": 41,
        }
        assert (await rt.replay(iid)).ok


async def test_a_message_start_events_outputs_pick_what_the_instance_keeps(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    async with Runtime.open(db, registry=registry) as rt:
        event = Event(type="order-placed", data={"order": {"id": "O-7"}, "secret": 1})
        (iid,) = (await rt.publish(event)).started
        assert await rt.result(iid) == {"orderId": "O-7"}


async def test_now_in_mappings_and_timers_is_the_instances_clock(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    async with Runtime.open(db, registry=registry, wall_time=lambda: T0) as rt:
        iid = await rt.start("mappings_clock", {})
        assert await rt.result(iid) == {
            "started": "2027-01-15T08:00:00Z",
            "day": "2027-01-15",
            "took": "PT1H",
        }
        assert (await rt.replay(iid)).ok  # now() gave the same instants on replay


HEAD = (
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="D">'
    '<bpmn:process id="p" isExecutable="true">'
)
INPUT = (
    '<bpmn:extensionElements><zeebe:ioMapping><zeebe:input source="=1" target="x"/>'
    "</zeebe:ioMapping></bpmn:extensionElements>"
)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            f'<bpmn:startEvent id="S">{INPUT}</bpmn:startEvent>',
            "element 'S' of type 'startEvent' has zeebe:input mappings",
        ),
        (
            '<bpmn:startEvent id="S"/><bpmn:task id="T"/>'
            f'<bpmn:boundaryEvent id="B" attachedToRef="T">{INPUT}'
            "<bpmn:timerEventDefinition><bpmn:timeDuration>PT1S</bpmn:timeDuration>"
            "</bpmn:timerEventDefinition></bpmn:boundaryEvent>",
            "element 'B' of type 'boundaryEvent' has zeebe:input mappings",
        ),
        (
            '<bpmn:startEvent id="S"/>'
            f'<bpmn:exclusiveGateway id="G">{INPUT}</bpmn:exclusiveGateway>',
            "element 'G' of type 'exclusiveGateway' has zeebe:ioMapping, which is not supported",
        ),
    ],
)
def test_mappings_an_event_cannot_have_are_refused(body: str, message: str) -> None:
    with pytest.raises(BpmnError) as caught:
        bpmn.parse(HEAD + body + "</bpmn:process></bpmn:definitions>")
    (problem,) = caught.value.problems
    assert message in problem, problem
