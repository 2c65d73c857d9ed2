"""The converter where the runtime uses it: start, activities, outputs, decoration."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio
import trio.testing

from api import create_app
from runtime import (
    InstanceNotFound,
    InvalidInput,
    Runtime,
    WorkflowCancelled,
    WorkflowContext,
    WorkflowFailed,
    activity,
    workflow,
)


@workflow(name="cv_echo")
async def cv_echo(ctx: WorkflowContext, name: str) -> str:
    return name


@pytest.mark.parametrize(
    ("value", "got"),
    [({"not": "a string"}, "an object"), (12, "a number"), (None, "null"), (["x"], "an array")],
)
async def test_start_refuses_what_is_not_a_string_and_writes_nothing(
    db: str, value: Any, got: str
) -> None:
    async with Runtime.open(db) as rt:
        with pytest.raises(InvalidInput) as caught:
            await rt.start(cv_echo, value, instance_id="refused")
        assert caught.value.problems == [f"expected a string, got {got} @ input"]
        with pytest.raises(InstanceNotFound):
            await rt.get("refused")
        assert (await rt.list()).items == ()
    async with Runtime.open(db) as rt:  # nothing was journaled either
        assert (await rt.list()).items == ()


async def test_start_refuses_a_lone_surrogate_and_values_nested_too_deep(db: str) -> None:
    deep: Any = "x"
    for _ in range(101):
        deep = [deep]
    async with Runtime.open(db) as rt:
        with pytest.raises(InvalidInput, match=r"lone surrogate .* @ input"):
            await rt.start(cv_echo, "abc\udc80")
        with pytest.raises(InvalidInput, match="nested deeper than 100 levels @ input"):
            await rt.start(cv_echo, deep)
        assert (await rt.list()).items == ()


async def test_an_http_start_with_a_lone_surrogate_is_a_400_and_starts_nothing(db: str) -> None:
    async with Runtime.open(db) as rt:
        client = create_app(rt).test_client()
        response = await client.post(
            "/workflows/cv_echo",
            data='"abc\\ud800"',
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 400
        problem = json.loads(await response.get_data())
        assert "lone surrogate" in problem["detail"]
        assert (await rt.list()).items == ()


CLEANED: list[str] = []


@activity
async def cv_note(text: str) -> None:
    CLEANED.append(text)


@activity
async def cv_maybe(n: int) -> int | None:
    return None if n < 0 else n


@workflow(name="cv_nothing")
async def cv_nothing(ctx: WorkflowContext, n: int) -> list[int | None]:
    await ctx.run(cv_note, "ran")
    return [await ctx.run(cv_maybe, n), await ctx.run(cv_maybe, -n)]


@workflow(name="cv_cleanup")
async def cv_cleanup(ctx: WorkflowContext) -> None:
    try:
        await ctx.sleep(3600)
    except WorkflowCancelled:
        await ctx.run(cv_note, "compensated")
        raise
    finally:
        await ctx.run(cv_note, "finally")


async def test_activities_returning_none_complete(db: str) -> None:
    async with Runtime.open(db) as rt:
        iid = await rt.start(cv_nothing, 3)
        assert await rt.result(iid, timeout=10) == [3, None]
        assert (await rt.replay(iid)).ok


async def test_activities_returning_none_run_in_cleanup_after_a_cancel(
    db: str, autojump_clock: trio.testing.MockClock
) -> None:
    CLEANED.clear()
    async with Runtime.open(db) as rt:
        iid = await rt.start(cv_cleanup)
        with trio.move_on_after(1):
            await rt.result(iid)
        await rt.cancel(iid, reason="stop")
        with pytest.raises(WorkflowCancelled):
            await rt.result(iid, timeout=10)
        assert CLEANED == ["compensated", "finally"]
        assert (await rt.get(iid)).status == "cancelled"


@activity
async def cv_double(n: int) -> int:
    return n * 2


@activity
async def cv_liar(n: int) -> int:
    return "many"  # type: ignore[return-value]


@workflow(name="cv_bad_argument")
async def cv_bad_argument(ctx: WorkflowContext) -> str:
    try:
        await ctx.run(cv_double, "2")
    except InvalidInput as exc:
        return str(exc)
    return "ran"


@workflow(name="cv_bad_result")
async def cv_bad_result(ctx: WorkflowContext) -> str:
    try:
        await ctx.run(cv_liar, 1)
    except InvalidInput as exc:
        return str(exc)
    return "took it"


@workflow(name="cv_bad_output")
async def cv_bad_output(ctx: WorkflowContext) -> int:
    return "twelve"  # type: ignore[return-value]


async def test_an_argument_that_does_not_fit_is_refused_in_workflow_code(db: str) -> None:
    async with Runtime.open(db) as rt:
        iid = await rt.start(cv_bad_argument)
        assert await rt.result(iid, timeout=10) == (
            "expected an integer, got a string @ cv_double.n"
        )
        kinds = [h.kind for h in await rt.history(iid)]
        assert "activity_scheduled" not in kinds


async def test_a_result_that_does_not_fit_is_raised_at_the_await_and_on_replay(db: str) -> None:
    async with Runtime.open(db) as rt:
        iid = await rt.start(cv_bad_result)
        assert await rt.result(iid, timeout=10) == "expected an integer, got a string @ result"
        assert (await rt.replay(iid)).ok


async def test_an_output_that_does_not_fit_the_return_type_fails_the_workflow(db: str) -> None:
    async with Runtime.open(db) as rt:
        iid = await rt.start(cv_bad_output)
        with pytest.raises(WorkflowFailed, match="expected an integer, got a string @ output"):
            await rt.result(iid, timeout=10)


@workflow(name="cv_odd_wait")
async def cv_odd_wait(ctx: WorkflowContext) -> str:
    try:
        await ctx.wait_event("x", data_type=bytes)
    except TypeError as exc:
        return str(exc)
    return "waited"


async def test_wait_event_refuses_a_data_type_without_json_form_at_once(db: str) -> None:
    async with Runtime.open(db) as rt:
        iid = await rt.start(cv_odd_wait)
        assert (
            await rt.result(iid, timeout=10)
            == "bytes has no JSON form (see the types in README.md)"
        )


def test_decorators_refuse_an_annotation_without_json_form_naming_it() -> None:
    with pytest.raises(TypeError, match=r"activity 'cv_blob': parameter 'data': bytes"):

        @activity
        async def cv_blob(data: bytes) -> None: ...

    with pytest.raises(TypeError, match=r"activity 'cv_ratio': return type: .*ambiguous"):

        @activity
        async def cv_ratio(n: int) -> list[int] | tuple[int, ...]: ...

    with pytest.raises(TypeError, match=r"workflow 'cv_keys': parameter 'data': dict keys"):

        @workflow
        async def cv_keys(ctx: WorkflowContext, data: dict[float, str]) -> None: ...

    with pytest.raises(TypeError, match=r"workflow 'cv_later': parameter 'order': .*'Nowhere'"):

        @workflow
        async def cv_later(ctx: WorkflowContext, order: Nowhere) -> None: ...  # noqa: F821
