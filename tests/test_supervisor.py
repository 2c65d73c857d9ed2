from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from itertools import pairwise

import pytest
import trio
import trio.testing

from actors import Restart, RestartIntensityExceeded, RestartPolicy, Supervisor

NO_BACKOFF = RestartPolicy(initial_backoff=0)


@asynccontextmanager
async def running(supervisor: Supervisor) -> AsyncIterator[Supervisor]:
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run)
        yield supervisor
        nursery.cancel_scope.cancel()


async def crash() -> None:
    raise ValueError("boom")


async def test_crashing_child_is_restarted(autojump_clock: trio.testing.MockClock) -> None:
    starts = 0
    restarted = trio.Event()

    async def child() -> None:
        nonlocal starts
        starts += 1
        if starts == 1:
            raise ValueError("boom")
        restarted.set()
        await trio.sleep_forever()

    async with running(Supervisor()) as supervisor:
        supervisor.start_child("c", child)
        with trio.fail_after(60):
            await restarted.wait()
        assert starts == 2
        assert "c" in supervisor
        assert len(supervisor) == 1


async def test_transient_child_is_restarted_only_when_it_raises() -> None:
    calls = {"returns": 0, "raises": 0}

    async def returns() -> None:
        calls["returns"] += 1

    async def raises_once() -> None:
        calls["raises"] += 1
        if calls["raises"] == 1:
            raise ValueError("boom")
        await trio.sleep_forever()

    async with running(Supervisor(NO_BACKOFF)) as supervisor:
        supervisor.start_child("returns", returns, restart=Restart.TRANSIENT)
        supervisor.start_child("raises", raises_once, restart=Restart.TRANSIENT)
        await trio.testing.wait_all_tasks_blocked()
        assert calls == {"returns": 1, "raises": 2}
        assert "returns" not in supervisor
        assert "raises" in supervisor


async def test_permanent_child_is_restarted_when_it_returns() -> None:
    calls = 0

    async def child() -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            await trio.sleep_forever()

    async with running(Supervisor(NO_BACKOFF)) as supervisor:
        supervisor.start_child("p", child, restart=Restart.PERMANENT)
        await trio.testing.wait_all_tasks_blocked()
        assert calls == 2
        assert "p" in supervisor


async def test_temporary_child_is_never_restarted() -> None:
    calls = {"returns": 0, "raises": 0}

    async def returns() -> None:
        calls["returns"] += 1

    async def raises() -> None:
        calls["raises"] += 1
        raise ValueError("boom")

    async with running(Supervisor(NO_BACKOFF)) as supervisor:
        supervisor.start_child("returns", returns, restart=Restart.TEMPORARY)
        supervisor.start_child("raises", raises, restart=Restart.TEMPORARY)
        await trio.testing.wait_all_tasks_blocked()
        assert calls == {"returns": 1, "raises": 1}
        assert len(supervisor) == 0


async def test_backoff_grows_between_restarts(autojump_clock: trio.testing.MockClock) -> None:
    policy = RestartPolicy(max_restarts=10, within=1000, initial_backoff=1, factor=2, max_backoff=5)
    starts: list[float] = []
    done = trio.Event()

    async def child() -> None:
        starts.append(trio.current_time())
        if len(starts) < 6:
            raise ValueError("boom")
        done.set()
        await trio.sleep_forever()

    async with running(Supervisor(policy)) as supervisor:
        supervisor.start_child("c", child)
        with trio.fail_after(1000):
            await done.wait()
    gaps = [later - earlier for earlier, later in pairwise(starts)]
    assert gaps == pytest.approx([1, 2, 4, 5, 5])


async def test_only_exits_within_the_window_count(autojump_clock: trio.testing.MockClock) -> None:
    policy = RestartPolicy(max_restarts=1, within=10, initial_backoff=0)
    starts = 0
    done = trio.Event()

    async def fails_every_twenty_seconds() -> None:
        nonlocal starts
        starts += 1
        if starts == 6:
            done.set()
            await trio.sleep_forever()
        await trio.sleep(20)
        raise ValueError("boom")

    async with running(Supervisor(policy)) as supervisor:
        supervisor.start_child("slow", fails_every_twenty_seconds)
        with trio.fail_after(1000):
            await done.wait()
        assert "slow" in supervisor


async def test_exceeding_intensity_escalates_to_the_parent() -> None:
    async def healthy() -> None:
        await trio.sleep_forever()

    with pytest.RaisesGroup(RestartIntensityExceeded) as caught:
        async with trio.open_nursery() as nursery:
            supervisor = Supervisor(RestartPolicy(max_restarts=2, initial_backoff=0))
            await nursery.start(supervisor.run)
            supervisor.start_child("healthy", healthy)
            supervisor.start_child("bad", crash)
    exceeded = caught.value.exceptions[0]
    assert exceeded.key == "bad"
    assert exceeded.failures == 3
    assert isinstance(exceeded.__cause__, ValueError)
    assert "must restart at most 2 times within 5.0 seconds" in str(exceeded)
    assert len(supervisor) == 0


async def test_with_on_give_up_the_others_keep_running() -> None:
    given_up: list[RestartIntensityExceeded] = []

    async def healthy() -> None:
        await trio.sleep_forever()

    async with running(Supervisor(NO_BACKOFF)) as supervisor:
        supervisor.start_child("healthy", healthy)
        supervisor.start_child(
            "bad",
            crash,
            policy=RestartPolicy(max_restarts=0),
            on_give_up=given_up.append,
        )
        await trio.testing.wait_all_tasks_blocked()
        assert [(e.key, e.failures) for e in given_up] == [("bad", 1)]
        assert "bad" not in supervisor
        assert "healthy" in supervisor
        supervisor.start_child("bad", healthy)
        await trio.testing.wait_all_tasks_blocked()
        assert len(supervisor) == 2


async def test_stop_child_cancels_without_restart_or_failure() -> None:
    calls = 0
    given_up: list[RestartIntensityExceeded] = []

    async def child() -> None:
        nonlocal calls
        calls += 1
        await trio.sleep_forever()

    async with running(Supervisor(RestartPolicy(max_restarts=0))) as supervisor:
        supervisor.start_child("c", child, on_give_up=given_up.append)
        await trio.testing.wait_all_tasks_blocked()
        supervisor.stop_child("c")
        supervisor.stop_child("c")
        assert "c" not in supervisor
        await trio.testing.wait_all_tasks_blocked()
        assert calls == 1
        assert given_up == []


async def test_unstoppable_child_is_restarted_but_cannot_be_stopped() -> None:
    starts = 0
    restarted = trio.Event()

    async def child() -> None:
        nonlocal starts
        starts += 1
        if starts == 1:
            raise ValueError("boom")
        restarted.set()
        await trio.sleep_forever()

    async with running(Supervisor(NO_BACKOFF)) as supervisor:
        supervisor.start_child("c", child, stoppable=False)
        await restarted.wait()
        with pytest.raises(ValueError, match="stoppable=False"):
            supervisor.stop_child("c")
        assert "c" in supervisor
        assert starts == 2


async def test_start_child_needs_a_running_supervisor_and_a_new_key() -> None:
    async def child() -> None:
        await trio.sleep_forever()

    supervisor = Supervisor()
    with pytest.raises(RuntimeError, match="must be running"):
        supervisor.start_child("c", child)
    async with running(supervisor):
        supervisor.start_child("c", child)
        with pytest.raises(ValueError, match="must be unique"):
            supervisor.start_child("c", child)


async def test_system_exit_is_not_swallowed() -> None:
    async def exits() -> None:
        raise SystemExit(3)

    with pytest.RaisesGroup(SystemExit, flatten_subgroups=True):
        async with running(Supervisor(NO_BACKOFF)) as supervisor:
            supervisor.start_child("c", exits)
            await trio.sleep_forever()


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("max_restarts", -1, ">= 0"),
        ("within", 0, "> 0"),
        ("initial_backoff", -1, ">= 0"),
        ("max_backoff", -1, ">= 0"),
        ("factor", 0.5, ">= 1"),
    ],
)
def test_restart_policy_rejects_invalid_values(field: str, value: float, rule: str) -> None:
    with pytest.raises(ValueError, match=f"'{field}' must be {rule}"):
        RestartPolicy(**{field: value})
