import random
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import attrs
import pytest
import trio
import trio.testing

from actors import ActorSystem, MailboxFull, RestartIntensityExceeded, RestartPolicy

NO_BACKOFF = RestartPolicy(initial_backoff=0)


@attrs.define
class World:
    """Shared record of what every actor did, and knobs to make actors block, fail or stay."""

    log: list[tuple[str, str, object]] = attrs.Factory(list)
    created: Counter[str] = attrs.Factory(Counter)
    gates: dict[str, trio.Event] = attrs.Factory(dict)
    pinned: set[str] = attrs.Factory(set)
    broken: set[str] = attrs.Factory(set)
    handling: set[str] = attrs.Factory(set)
    checkpoint_in_handle: bool = False

    def factory(self, key: str) -> "Recorder":
        self.created[key] += 1
        return Recorder(self, key)

    def handled(self, key: str) -> list[object]:
        return [message for kind, k, message in self.log if kind == "handle" and k == key]

    def starts(self, key: str) -> int:
        return sum(1 for kind, k, _ in self.log if kind == "start" and k == key)


@attrs.define(eq=False)
class Recorder:
    world: World
    key: str

    async def start(self) -> None:
        if self.key in self.world.broken:
            raise ValueError("cannot recover")
        self.world.log.append(("start", self.key, None))

    async def handle(self, message: object) -> None:
        assert self.key not in self.world.handling, "two incarnations of one key ran at once"
        self.world.handling.add(self.key)
        try:
            if message == "crash":
                raise ValueError("boom")
            gate = self.world.gates.get(self.key)
            if gate is not None:
                await gate.wait()
            if self.world.checkpoint_in_handle:
                await trio.lowlevel.checkpoint()
            self.world.log.append(("handle", self.key, message))
        finally:
            self.world.handling.discard(self.key)

    def can_passivate(self) -> bool:
        return self.key not in self.world.pinned

    def stopped(self) -> None:
        self.world.log.append(("stopped", self.key, None))


@asynccontextmanager
async def running(system: ActorSystem[str, object]) -> AsyncIterator[ActorSystem[str, object]]:
    async with trio.open_nursery() as nursery:
        await nursery.start(system.run)
        yield system
        nursery.cancel_scope.cancel()


async def test_message_spawns_an_actor_that_starts_then_handles() -> None:
    world = World()
    async with running(ActorSystem(world.factory)) as system:
        system.send_nowait("a", 1)
        await system.send("a", 2)
        await trio.testing.wait_all_tasks_blocked()
        assert world.log == [("start", "a", None), ("handle", "a", 1), ("handle", "a", 2)]
        assert system.is_resident("a")
        assert system.resident == 1


async def test_a_starting_actor_sees_the_message_it_was_spawned_for() -> None:
    world = World()
    seen: list[object] = []

    class Peeking(Recorder):
        async def start(self) -> None:
            seen.append(system.next_message(self.key))
            await super().start()

    def factory(key: str) -> Recorder:
        return Peeking(world, key)

    async with running(ActorSystem(factory, max_resident=1)) as system:
        system.send_nowait("a", "first")
        system.send_nowait("a", "second")
        await trio.testing.wait_all_tasks_blocked()
        assert system.next_message("a") is None  # handled: nothing waits
        system.send_nowait("b", "other")  # passivates a
        await trio.testing.wait_all_tasks_blocked()
        system.send_nowait("a", "again")
        await trio.testing.wait_all_tasks_blocked()
        assert seen == ["first", "other", "again"]
        assert world.handled("a") == ["first", "second", "again"]
        assert system.next_message("nobody") is None


async def test_passivated_actor_rehydrates_on_next_message() -> None:
    world = World()
    async with running(ActorSystem(world.factory, max_resident=1)) as system:
        system.send_nowait("a", 1)
        await trio.testing.wait_all_tasks_blocked()
        system.send_nowait("b", 1)
        await trio.testing.wait_all_tasks_blocked()
        assert not system.is_resident("a")
        assert system.actor("a") is None
        assert isinstance(system.actor("b"), Recorder)
        assert system.resident == 1
        assert ("stopped", "a", None) in world.log
        assert ("stopped", "b", None) not in world.log

        system.send_nowait("a", 2)
        await trio.testing.wait_all_tasks_blocked()
        assert world.created["a"] == 2
        assert world.starts("a") == 2
        assert world.handled("a") == [1, 2]


async def test_at_most_max_resident_idle_actors_stay_resident() -> None:
    world = World()
    keys = [f"k{n}" for n in range(10)]
    async with running(ActorSystem(world.factory, max_resident=3)) as system:
        for key in keys:
            system.send_nowait(key, "hello")
            await trio.testing.wait_all_tasks_blocked()
        assert system.resident == 3
        assert [key for key in keys if system.is_resident(key)] == keys[-3:]

        for key in keys:  # a burst, without letting any actor run in between
            system.send_nowait(key, "again")
        await trio.testing.wait_all_tasks_blocked()
        assert system.resident == 3
        assert all(world.handled(key) == ["hello", "again"] for key in keys)


async def test_least_recently_used_idle_actor_is_passivated_first() -> None:
    world = World()
    async with running(ActorSystem(world.factory, max_resident=2)) as system:
        for key in ["a", "b", "a", "c"]:
            system.send_nowait(key, 1)
            await trio.testing.wait_all_tasks_blocked()
        assert [key for key in "abc" if system.is_resident(key)] == ["a", "c"]


async def test_actor_that_cannot_passivate_is_not_passivated() -> None:
    world = World(pinned={"a", "b"})
    async with running(ActorSystem(world.factory, max_resident=1)) as system:
        system.send_nowait("a", 1)
        system.send_nowait("b", 1)
        await trio.testing.wait_all_tasks_blocked()
        assert system.is_resident("a")
        assert system.is_resident("b")
        assert system.resident == 2  # above max_resident: nothing may be passivated

        world.pinned.clear()
        system.send_nowait("c", 1)
        await trio.testing.wait_all_tasks_blocked()
        assert system.resident == 1
        assert system.is_resident("c")


async def test_full_mailbox_pushes_back() -> None:
    world = World(gates={"a": trio.Event()})
    done = trio.Event()

    async def send_third() -> None:
        await system.send("a", 3)
        done.set()

    async with running(ActorSystem(world.factory, mailbox_capacity=1)) as system:
        system.send_nowait("a", 1)
        await trio.testing.wait_all_tasks_blocked()  # 1 is being handled
        system.send_nowait("a", 2)
        with pytest.raises(MailboxFull):
            system.send_nowait("a", 3)
        assert system.mailbox_depth == 1

        async with trio.open_nursery() as nursery:
            nursery.start_soon(send_third)
            await trio.testing.wait_all_tasks_blocked()
            assert not done.is_set()
            world.gates["a"].set()
            await done.wait()
        await trio.testing.wait_all_tasks_blocked()
        assert world.handled("a") == [1, 2, 3]
        assert system.mailbox_depth == 0


async def test_stop_finishes_queued_messages_then_removes_the_actor() -> None:
    world = World(gates={"a": trio.Event()})
    async with running(ActorSystem(world.factory)) as system:
        system.send_nowait("a", 1)
        system.send_nowait("a", 2)
        await trio.testing.wait_all_tasks_blocked()
        system.stop("a")
        system.stop("a")
        system.stop("unknown")
        assert system.is_resident("a")  # still finishing

        assert ("stopped", "a", None) not in world.log
        world.gates["a"].set()
        await trio.testing.wait_all_tasks_blocked()
        assert world.handled("a") == [1, 2]
        assert not system.is_resident("a")
        assert world.log[-1] == ("stopped", "a", None)  # after the last message


async def test_message_sent_while_an_actor_is_leaving_goes_to_its_next_incarnation() -> None:
    world = World(gates={"a": trio.Event()})
    async with running(ActorSystem(world.factory)) as system:
        system.send_nowait("a", 1)
        await trio.testing.wait_all_tasks_blocked()
        system.stop("a")
        system.send_nowait("a", 2)
        await trio.testing.wait_all_tasks_blocked()
        assert world.starts("a") == 1  # the next incarnation waits for the old one

        world.gates["a"].set()
        await trio.testing.wait_all_tasks_blocked()
        assert world.handled("a") == [1, 2]
        assert world.starts("a") == 2
        assert system.is_resident("a")


async def test_message_sent_while_passivating_is_not_lost() -> None:
    world = World()
    async with running(ActorSystem(world.factory, max_resident=1)) as system:
        system.send_nowait("a", 1)
        await trio.testing.wait_all_tasks_blocked()
        system.send_nowait("b", 1)  # passivates the idle "a"; its task has not ended yet
        system.send_nowait("a", 2)
        await trio.testing.wait_all_tasks_blocked()
        assert world.handled("a") == [1, 2]
        assert world.created["a"] == 2


async def test_blocked_sender_follows_the_key_to_its_next_incarnation() -> None:
    world = World(gates={"a": trio.Event()})
    async with running(ActorSystem(world.factory, mailbox_capacity=1)) as system:
        system.send_nowait("a", 1)
        await trio.testing.wait_all_tasks_blocked()
        system.send_nowait("a", 2)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(system.send, "a", 3)
            await trio.testing.wait_all_tasks_blocked()
            system.stop("a")
            world.gates["a"].set()
        await trio.testing.wait_all_tasks_blocked()
        assert world.handled("a") == [1, 2, 3]
        assert world.starts("a") == 2


async def test_crashed_actor_restarts_and_keeps_its_mailbox() -> None:
    world = World()
    async with running(ActorSystem(world.factory, policy=NO_BACKOFF)) as system:
        for message in [1, "crash", 2, 3]:
            system.send_nowait("a", message)
        await trio.testing.wait_all_tasks_blocked()
        assert world.starts("a") == 2
        assert world.handled("a") == [1, 2, 3]


async def test_give_up_removes_the_key_and_calls_on_give_up() -> None:
    world = World(broken={"bad"})
    given_up: list[tuple[str, RestartIntensityExceeded]] = []
    system = ActorSystem(
        world.factory,
        policy=RestartPolicy(max_restarts=1, initial_backoff=0),
        on_give_up=lambda key, exc: given_up.append((key, exc)),
    )
    async with running(system):
        system.send_nowait("bad", 1)
        system.send_nowait("good", 1)
        await trio.testing.wait_all_tasks_blocked()
        assert [(key, exc.failures) for key, exc in given_up] == [("bad", 2)]
        assert isinstance(given_up[0][1].__cause__, ValueError)
        assert not system.is_resident("bad")

        system.send_nowait("good", 2)
        await trio.testing.wait_all_tasks_blocked()
        assert world.handled("good") == [1, 2]


async def test_give_up_without_on_give_up_escalates_out_of_run() -> None:
    world = World(broken={"bad"})
    system = ActorSystem(world.factory, policy=RestartPolicy(max_restarts=1, initial_backoff=0))
    with pytest.RaisesGroup(RestartIntensityExceeded) as caught:
        async with running(system):
            system.send_nowait("bad", 1)
            await trio.sleep_forever()
    assert caught.value.exceptions[0].key == "bad"
    assert system.resident == 0


async def test_no_message_is_lost_across_passivation_races() -> None:
    world = World(checkpoint_in_handle=True)
    rng = random.Random(7)
    keys = [f"k{n}" for n in range(40)]
    rounds = 25
    system = ActorSystem(world.factory, max_resident=3, mailbox_capacity=2)
    async with running(system):
        for round_ in range(rounds):
            for key in rng.sample(keys, len(keys)):
                # Mostly synchronous bursts, so messages reach keys whose actors are leaving.
                try:
                    system.send_nowait(key, round_)
                except MailboxFull:
                    await system.send(key, round_)
                if rng.random() < 0.1:
                    system.stop(rng.choice(keys))
                if rng.random() < 0.2:
                    await trio.testing.wait_all_tasks_blocked()
        await trio.testing.wait_all_tasks_blocked()
        assert system.resident <= 3
        assert system.mailbox_depth == 0
    for key in keys:
        assert world.handled(key) == list(range(rounds))
    assert sum(world.created.values()) > len(keys)  # passivation really happened


async def test_send_needs_a_running_system() -> None:
    system = ActorSystem(World().factory)
    with pytest.raises(RuntimeError, match="must be running"):
        system.send_nowait("a", 1)


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="max_resident must be >= 0"):
        ActorSystem(World().factory, max_resident=-1)
    with pytest.raises(ValueError, match="mailbox_capacity must be >= 1"):
        ActorSystem(World().factory, mailbox_capacity=0)
