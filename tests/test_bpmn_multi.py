"""Multi-instance activities: parallel and sequential, on tasks and subprocesses."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing
from test_bpmn_run import FIXTURES, complete_task, incident, opened, settle, status

from runtime import Event, Registry, bpmn
from runtime.bpmn._multi import MAX_ACTIVE

MULTI = FIXTURES / "run_multi.bpmn"


@pytest.fixture
def registry() -> Registry:
    return Registry()


async def test_a_parallel_service_task_runs_a_job_per_item_and_collects_in_item_order(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    seen: list[dict[str, Any]] = []

    @bpmn.handler("shout", registry=registry)
    async def shout(variables: dict[str, Any]) -> dict[str, Any]:
        seen.append(variables)
        await trio.sleep(3 - variables["loopCounter"])  # the last one finishes first
        return {"upper": variables["text"].upper()}

    bpmn.load(MULTI, registry=registry)
    async with opened(db, registry) as rt:
        iid = await rt.start("mi_service", {"items": ["a", "b", "c"], "prefix": "x-"})
        # item, loopCounter, text and upper stay in the inner instances
        assert await rt.result(iid) == {
            "items": ["a", "b", "c"],
            "prefix": "x-",
            "results": ["X-A", "X-B", "X-C"],
        }
        assert sorted((v["item"], v["loopCounter"], v["text"]) for v in seen) == [
            ("a", 1, "x-a"),
            ("b", 2, "x-b"),
            ("c", 3, "x-c"),
        ]
        assert seen[0]["numberOfInstances"] == 3


async def test_an_empty_collection_completes_at_once_and_a_non_list_is_an_incident(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    bpmn.load(MULTI, registry=registry)
    async with opened(db, registry) as rt:
        empty = await rt.start("mi_service", {"items": [], "prefix": ""})
        assert (await rt.result(empty))["results"] == []
        bad = await rt.start("mi_service", {"items": "abc", "prefix": ""})
        found = await incident(rt, bad)
        assert found["element_id"] == "Task_Shout" and "not a list" in found["message"]


async def test_a_sequential_user_task_stops_when_its_completion_condition_holds(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    bpmn.load(MULTI, registry=registry)
    async with opened(db, registry) as rt:
        iid = await rt.start("mi_review", {"reviewers": ["ann", "bob", "cid", "dan"]})
        await settle(rt, iid)
        view = await rt.query(iid)
        assert view["tasks"] == {"Task_Review/1": {"assignee": "ann", "candidate_groups": []}}
        await complete_task(rt, iid, "Task_Review/1", {"approved": True})
        await settle(rt, iid)
        assert list((await rt.query(iid))["tasks"]) == ["Task_Review/2"]
        await complete_task(rt, iid, "Task_Review/2", {"approved": False})
        await settle(rt, iid)
        assert (await rt.query(iid))["tasks"]["Task_Review/3"]["assignee"] == "cid"
        await complete_task(rt, iid, "Task_Review/3", {"approved": True})
        assert await rt.result(iid) == {
            "reviewers": ["ann", "bob", "cid", "dan"],
            "verdicts": [True, False, True, None],
        }


async def test_the_instance_counts_decide_a_parallel_completion_condition(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    bpmn.load(MULTI, registry=registry)
    async with opened(db, registry) as rt:
        iid = await rt.start("mi_quorum", {"approvers": ["ann", "bob", "cid"]})
        await settle(rt, iid)
        assert list((await rt.query(iid))["tasks"]) == [f"Task_Approve/{n}" for n in (1, 2, 3)]
        await complete_task(rt, iid, "Task_Approve/3")
        await settle(rt, iid)
        assert await status(rt, iid) == "waiting"
        await complete_task(rt, iid, "Task_Approve/1")
        assert await rt.result(iid) == {"approvers": ["ann", "bob", "cid"]}
        assert (await rt.query(iid))["tasks"] == {}
        late = Event(type="task.completed", subject=f"{iid}/Task_Approve/2")
        assert (await rt.publish(late)).delivered == ()


async def test_a_parallel_receive_task_correlates_each_message_by_its_own_item(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    bpmn.load(MULTI, registry=registry)
    async with opened(db, registry) as rt:
        iid = await rt.start("mi_receive", {"ids": ["p", "q"]})
        await settle(rt, iid)
        for key, by in (("q", "quinn"), ("p", "pat")):
            event = Event(type="ack", subject=key, data={"by": by})
            assert (await rt.publish(event)).delivered == (iid,)
        assert (await rt.result(iid))["acks"] == ["pat", "quinn"]


async def test_a_parallel_subprocess_sees_its_item_and_an_error_in_one_withdraws_the_rest(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    @bpmn.handler("price", registry=registry)
    async def price(variables: dict[str, Any]) -> dict[str, Any]:
        line = variables["line"]
        if line["qty"] < 0:
            raise bpmn.TaskError("BAD_ITEM", "negative quantity")
        await trio.sleep(line["qty"])
        return {"price": line["qty"] * 10}

    bpmn.load(MULTI, registry=registry)
    async with opened(db, registry) as rt:
        good = await rt.start("mi_subprocess", {"lines": [{"qty": 2}, {"qty": 1}]})
        assert await rt.result(good) == {"lines": [{"qty": 2}, {"qty": 1}], "prices": [20, 10]}
        bad = await rt.start("mi_subprocess", {"lines": [{"qty": 50}, {"qty": -1}]})
        assert "prices" not in await rt.result(bad)
        view = await rt.query(bad)
        assert "End_bad" in view["completed"] and "Price_End" not in view["completed"]


async def test_a_large_parallel_collection_runs_a_bounded_number_of_inner_instances_at_once(
    db: str, registry: Registry, autojump_clock: trio.testing.MockClock
) -> None:
    bpmn.load(MULTI, registry=registry)
    async with opened(db, registry) as rt:
        iid = await rt.start("mi_many", {"count": MAX_ACTIVE + 20})
        await settle(rt, iid)
        tasks = (await rt.query(iid))["tasks"]
        assert len(tasks) == MAX_ACTIVE and "Task_Sign/1" in tasks
        await complete_task(rt, iid, "Task_Sign/1")
        await settle(rt, iid)
        tasks = (await rt.query(iid))["tasks"]
        assert len(tasks) == MAX_ACTIVE and f"Task_Sign/{MAX_ACTIVE + 1}" in tasks
        assert "Task_Sign/1" not in tasks
        assert await status(rt, iid) == "waiting"
        # an hour later the interrupting timer withdraws every inner instance left
        await rt.result(iid)
        view = await rt.query(iid)
        assert view["tasks"] == {} and "End_late" in view["completed"]
        late = Event(type="task.completed", subject=f"{iid}/Task_Sign/2")
        assert (await rt.publish(late)).delivered == ()


def test_multi_instance_needs_an_input_collection_and_paired_outputs() -> None:
    def marker(attributes: str) -> str:
        return (
            '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
            'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0">'
            '<bpmn:process id="p" isExecutable="true"><bpmn:startEvent id="s"/>'
            '<bpmn:task id="t"><bpmn:multiInstanceLoopCharacteristics><bpmn:extensionElements>'
            f"<zeebe:loopCharacteristics {attributes}/>"
            "</bpmn:extensionElements></bpmn:multiInstanceLoopCharacteristics></bpmn:task>"
            "</bpmn:process></bpmn:definitions>"
        )

    loop = bpmn.parse(marker('inputCollection="=[1,2]"')).processes["p"].elements["t"]
    assert isinstance(loop, bpmn.Activity) and loop.loop is not None
    assert loop.loop.input_collection == "=[1,2]" and not loop.loop.sequential
    for attributes, message in (
        ('inputElement="x"', "needs zeebe:loopCharacteristics with an inputCollection"),
        ('inputCollection="=[1" ', "inputCollection"),
        ('inputCollection="=xs" outputCollection="ys"', "both an outputCollection and"),
    ):
        try:
            bpmn.parse(marker(attributes))
        except bpmn.BpmnError as error:
            assert message in str(error), str(error)
        else:
            raise AssertionError(f"{attributes} was accepted")
