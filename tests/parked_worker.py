"""The workflows of the parked-crash test, and the child process that parks them until killed.

Both processes import this module: the child (``python tests/parked_worker.py DB EFFECTS N
MAX_RESIDENT``) starts N instances, waits until every one is parked (status ``waiting``) on a
durable timer or an event wait, prints ``parked`` and idles until the test SIGKILLs it; the test
process imports it so that the same workflows and activity are registered when it reopens the file.

Every instance first runs the activity ``before`` (in the child), then parks; each timer or event
it waits for is followed by one more activity. Each activity run appends one line
``<instance id> <step name> <pid>`` to the effects file, so the test can count the runs of every
activity and tell the killed child's runs from the ones after recovery.
"""

from __future__ import annotations

import sys

import trio
from _processes import ready_for_the_kill, record_effect, until_all

from runtime import Runtime, WorkflowContext, activity, workflow

EFFECTS_PATH = ""
"""The side-effect file; the child sets it from its arguments, the test with monkeypatch."""

SLEEP = 2.0
"""Seconds of each durable timer: long enough that none falls due before the kill."""

KINDS = ("event", "timer", "both")


def instance_ids(count: int) -> list[str]:
    """Ids of the form ``parked-<kind>-<n>``, the kinds taking turns."""
    return [f"parked-{KINDS[n % len(KINDS)]}-{n:03d}" for n in range(count)]


def kind_of(instance_id: str) -> str:
    return instance_id.split("-")[1]


def subject_of(instance_id: str) -> str:
    """The order id its payment event carries as subject."""
    return "order-" + instance_id.rsplit("-", 1)[1]


def effects_of(instance_id: str) -> tuple[str, ...]:
    """The activities the instance runs, in order."""
    return {
        "event": ("before", "after_event"),
        "timer": ("before", "after_timer"),
        "both": ("before", "after_timer", "after_event"),
    }[kind_of(instance_id)]


@activity
def parked_effect(instance_id: str, name: str) -> str:
    record_effect(EFFECTS_PATH, instance_id, name)
    return name


@workflow
async def parked_on_event(ctx: WorkflowContext, order_id: str) -> list[str]:
    done = [await ctx.run(parked_effect, ctx.instance_id, "before")]
    paid = await ctx.wait_event("payment.completed", subject=order_id)
    done.append(await ctx.run(parked_effect, ctx.instance_id, "after_event"))
    return [*done, str(paid.data)]


@workflow
async def parked_on_timer(ctx: WorkflowContext, order_id: str) -> list[str]:
    done = [await ctx.run(parked_effect, ctx.instance_id, "before")]
    await ctx.sleep(SLEEP)
    done.append(await ctx.run(parked_effect, ctx.instance_id, "after_timer"))
    return done


@workflow
async def parked_on_both(ctx: WorkflowContext, order_id: str) -> list[str]:
    done = [await ctx.run(parked_effect, ctx.instance_id, "before")]
    await ctx.sleep(SLEEP)
    done.append(await ctx.run(parked_effect, ctx.instance_id, "after_timer"))
    paid = await ctx.wait_event("payment.completed", subject=order_id)
    done.append(await ctx.run(parked_effect, ctx.instance_id, "after_event"))
    return [*done, str(paid.data)]


WORKFLOWS = {"event": parked_on_event, "timer": parked_on_timer, "both": parked_on_both}


def expected_output(instance_id: str) -> list[str]:
    paid = [f"paid {subject_of(instance_id)}"] if kind_of(instance_id) != "timer" else []
    return [*effects_of(instance_id), *paid]


async def _main(db: str, count: int, max_resident: int) -> None:
    async with Runtime.open(db, max_resident=max_resident) as rt:
        ids = instance_ids(count)
        async with trio.open_nursery() as nursery:
            for instance_id in ids:
                nursery.start_soon(
                    _start, rt, instance_id, kind_of(instance_id), subject_of(instance_id)
                )
        await until_all(rt, ids, "waiting")
        await ready_for_the_kill("parked")  # every instance waits on a timer or an event


async def _start(rt: Runtime, instance_id: str, kind: str, subject: str) -> None:
    await rt.start(WORKFLOWS[kind], subject, instance_id=instance_id)


if __name__ == "__main__":
    db_path, EFFECTS_PATH = sys.argv[1], sys.argv[2]
    trio.run(_main, db_path, int(sys.argv[3]), int(sys.argv[4]))
