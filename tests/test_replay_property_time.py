"""Replay determinism across crashes with time, events and cancellation, as a Hypothesis property.

The sibling of ``test_replay_property``: a random *program* (plain JSON data) is run by one
generic workflow, ``tprop_program``, whose steps call an activity, sleep, wait for an event
(with or without a timeout, catching ``EventTimeout`` or not) or gather a few of these. A
random *schedule* says what the outside world does and when, in virtual time: publish an event
(targeted or not), publish it again (a redelivery: same source and id), cancel an instance.
Each example runs the program as two instances under its schedule, once without interruption
and then again on stores that die after their N-th committed append; a fresh runtime reopens
the file at once and the schedule carries on.

What "the same schedule" means across a crash, and why the property can be exact:

- Every run gets its own ``MockClock`` (autojump) and a wall clock ``BASE + virtual time``,
  passed to every ``Runtime.open`` as ``wall_time``, so the runtime that reopens after a crash
  continues the same wall clock instead of starting again from real time. (Reading the time of
  the last journal record instead would move the clock back whenever nothing was written for a
  while before the death, which shifts every later timer against the schedule.)
- The crash takes no virtual time: the store dies, the runtime is torn down and reopened in the
  same instant (asserted). The driver performs each scheduled action once its time has come;
  an action the crash interrupted is performed again after reopening, in that same instant
  (then it may be a duplicate, or find the instance finished). So nothing is published "during
  the outage": an outage of positive length is the subject of the pinned tests in
  ``test_replay_pinned.py``.
- Activities take no virtual time (``delay`` 0). An attempt a crash cut short runs again in the
  instant it first ran, so a crash never delays the workflow; retries wait on durable timers,
  which fire at their recorded times whether or not a crash came in between.
- No two things that could race happen in one instant: every scheduled action gets a fraction
  of a second of its own ((rank + 1) / 16) and every workflow duration is a whole number of
  seconds, so a workflow's times carry the fraction of an action that already happened (or 0),
  never that of one still to come. A publish is never simultaneous with a timeout.

Then the crashed-and-recovered run must be the uninterrupted one exactly: the same outcome
(status, output with every step's ``ctx.now()``, error, what it still waits on), the same
history of every step including record times, the same answers to every action that ran once,
replay without divergence. Besides, every run is checked against a small model of event
delivery (each event taken at most once per instance, in arrival order, as soon as both it and
the wait exist, and never lost to a timeout), redeliveries are duplicates, and no activity
attempt whose completion was journaled runs again.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_replay_property import (
    WORLD,
    Died,
    DyingStore,
    _attempts_of,
    _draws,
    check_death,
    no_crash_logged,
    prop_call,
)

from runtime import (
    ActivityError,
    Event,
    EventTimeout,
    HistoryItem,
    InstanceFinished,
    Runtime,
    WorkflowCancelled,
    WorkflowContext,
    workflow,
)
from runtime._journal import JournalClosed
from runtime.store import Append, SqliteStore, StoredRecord, StoreError

BASE = 1_750_000_000.0
"""The wall clock at virtual time 0 of every run."""
END = 300.0
"""Virtual seconds by which every program has done all it ever will (the schedule ends by 36,
a program's own durations add up to less than 100)."""
INSTANCES = ("tprop-a", "tprop-b")
TYPES = ("a", "b")
SUBJECTS = ("x", "y")
SOURCE = "tprop-source"

# Each property run is its own trio.run on an autojumping MockClock.
pytestmark = pytest.mark.usefixtures("inline_commits")


# --- the workflow -----------------------------------------------------------------------


async def _item(ctx: WorkflowContext, item: dict[str, Any]) -> Any:
    if "call" in item:
        return await ctx.run(prop_call, ctx.instance_id, item["call"]["id"])
    if "sleep" in item:
        await ctx.sleep(item["sleep"])
        return {"slept_until": ctx.now().timestamp()}
    if "wait" in item:
        wait = item["wait"]
        got = await ctx.wait_event(wait["type"], subject=wait["subject"], timeout=wait["timeout"])
        return {"event": got.id, "data": got.data, "at": ctx.now().timestamp()}
    first, second = item["sequence"]
    return [await _item(ctx, first), await _item(ctx, second)]


@workflow(name="tprop_program")
async def tprop_program(ctx: WorkflowContext, program: dict[str, Any]) -> dict[str, Any]:
    """Run ``program``; a step that catches records its ActivityError or EventTimeout.

    On cancellation it may compensate (the activity call ``comp``), then re-raises or
    returns what it did so far. After each step it draws ``ctx.random()``.
    """
    results: list[Any] = []
    try:
        for step in program["steps"]:
            try:
                if "gather" in step:
                    value: Any = list(
                        await ctx.gather(*[_item(ctx, item) for item in step["gather"]])
                    )
                else:
                    value = await _item(ctx, step)
            except (ActivityError, EventTimeout) as exc:
                if not step["catch"]:
                    raise
                value = {"error": type(exc).__name__, "message": str(exc)}
            results.append({"value": value, "draw": ctx.random(), "at": ctx.now().timestamp()})
    except WorkflowCancelled as exc:
        undo = None
        if program["compensate"]:
            undo = await ctx.run(prop_call, ctx.instance_id, "comp")
        if program["swallow"]:
            return {"results": results, "cancelled": exc.reason, "undo": undo}
        raise
    return {"results": results}


def _calls_of(program: dict[str, Any]) -> list[dict[str, Any]]:
    calls = [program["comp"]]
    for step in program["steps"]:
        for item in step.get("gather", [step]):
            for leaf in item.get("sequence", [item]):
                if "call" in leaf:
                    calls.append(leaf["call"])
    return calls


def reset_world(program: dict[str, Any]) -> None:
    WORLD.calls = {spec["id"]: spec for spec in _calls_of(program)}
    WORLD.dead = False
    WORLD.before.clear()
    WORLD.after.clear()


# --- programs and schedules ---------------------------------------------------------------

_RESULTS = st.one_of(st.integers(-1000, 1000), st.text(alphabet="abcxyz", max_size=5))


@st.composite
def programs(draw: st.DrawFn) -> dict[str, Any]:
    """1 to 4 steps; a gather has 2 or 3 items, at most one of them a sequence of two.

    At most one sequence per gather keeps step numbers independent of the order in which
    simultaneous completions arrive. Activities never take time (see the module docstring).
    """
    ids = itertools.count()

    def call(call_id: str | None = None) -> dict[str, Any]:
        return {
            "id": call_id or f"c{next(ids)}",
            "result": draw(_RESULTS),
            "fails": draw(st.sampled_from([0, 0, 0, 1, 2, 3])),  # 3: retries exhausted
            "fatal": draw(st.sampled_from([False, False, False, False, True])),
            "delay": 0,
        }

    def leaf() -> dict[str, Any]:
        kind = draw(st.sampled_from(["call", "sleep", "sleep", "wait", "wait", "wait"]))
        if kind == "call":
            return {"call": call()}
        if kind == "sleep":
            return {"sleep": draw(st.sampled_from([0, 1, 2, 4, 7]))}
        return {
            "wait": {
                "type": draw(st.sampled_from(TYPES)),
                "subject": draw(st.sampled_from([*SUBJECTS, None])),
                "timeout": draw(st.sampled_from([None, None, 0, 1, 3, 6, 10])),
            }
        }

    steps: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(1, 4))):
        catch = draw(st.sampled_from([True, True, False]))
        if draw(st.booleans()):
            steps.append({**leaf(), "catch": catch})
            continue
        size = draw(st.integers(2, 3))
        sequence_at = draw(st.sampled_from([None, *range(size)]))
        items = [
            {"sequence": [leaf(), leaf()]} if i == sequence_at else leaf() for i in range(size)
        ]
        steps.append({"gather": items, "catch": catch})
    return {
        "steps": steps,
        "compensate": draw(st.booleans()),
        "swallow": draw(st.booleans()),
        "comp": call("comp"),
    }


@attrs.frozen(kw_only=True)
class Action:
    """What the driver does at virtual time ``at``: start, publish, redeliver or cancel."""

    at: float
    kind: str
    event: Event | None = None
    instance: str | None = None


@st.composite
def schedules(draw: st.DrawFn) -> list[Action]:
    """Start both instances at 0, then up to 5 events (some published twice) and cancels.

    Each action's time is a whole second plus a fraction of its own, (rank + 1) / 16.
    """
    planned: list[tuple[int, str, Event | None, str | None]] = []
    for k in range(draw(st.sampled_from([0, 1, 2, 3, 3, 4, 5]))):
        target = draw(st.sampled_from([None, None, None, *INSTANCES]))
        ev = Event(
            type=draw(st.sampled_from(TYPES)),
            source=SOURCE,
            id=f"e{k}",
            subject=draw(st.sampled_from(SUBJECTS)),
            data={"n": k},
            instanceid=target,
        )
        # Mostly early in the run, when the instances have their waits ahead or open.
        second = draw(st.sampled_from([0, 0, 1, 1, 2, 3, 4, 6, 9, 14, 20, 30]))
        planned.append((second, "publish", ev, None))
        gap = draw(st.sampled_from([None, None, 0, 1, 5]))
        if gap is not None:
            planned.append((second + gap, "redeliver", ev, None))
    for instance in INSTANCES:
        if draw(st.integers(0, 2)) == 0:
            planned.append((draw(st.integers(0, 20)), "cancel", None, instance))
    ordered = sorted(enumerate(planned), key=lambda p: (p[1][0], p[0]))
    assert len(ordered) < 16, "each action needs a sixteenth of a second of its own"
    actions = [Action(at=0.0, kind="start")]
    for rank, (_, (second, kind, what, target_of_cancel)) in enumerate(ordered):
        at = second + (rank + 1) / 16
        actions.append(Action(at=at, kind=kind, event=what, instance=target_of_cancel))
    return actions


# --- a store that dies ------------------------------------------------------------------------


# --- running a schedule ----------------------------------------------------------------------


@attrs.define(eq=False)
class Driver:
    """Performs the schedule's actions at their times, across runtimes.

    ``done`` counts the actions that returned; one that a crash interrupted is performed
    again by the next runtime (and noted in ``retried``).
    """

    program: dict[str, Any]
    actions: list[Action]
    t0: float
    done: int = 0
    tried: int = -1
    retried: set[int] = attrs.Factory(set)
    answers: dict[int, Any] = attrs.Factory(dict)
    tried_at: dict[int, list[float]] = attrs.Factory(dict)
    """When each try of an action began (an action due during an outage runs after it)."""

    async def run(self, rt: Runtime) -> None:
        while self.done < len(self.actions):
            i = self.done
            action = self.actions[i]
            await trio.sleep_until(self.t0 + action.at)
            if self.tried == i:
                self.retried.add(i)
            self.tried = i
            self.tried_at.setdefault(i, []).append(trio.current_time() - self.t0)
            self.answers[i] = await self._perform(rt, action)
            self.done += 1
        await trio.sleep_until(self.t0 + END)

    async def _perform(self, rt: Runtime, action: Action) -> Any:
        if action.kind == "start":
            for instance_id in INSTANCES:
                await rt.start(tprop_program, self.program, instance_id=instance_id)
            return None
        if action.kind in ("publish", "redeliver"):
            assert action.event is not None
            try:
                result = await rt.publish(action.event)
            except InstanceFinished:  # a targeted event for an instance that has finished
                return "finished"
            return (result.duplicate, sorted(result.delivered), result.started)
        assert action.instance is not None
        try:
            await rt.cancel(action.instance, reason=f"stop {action.instance}")
        except InstanceFinished:
            return "finished"
        return "requested"


@attrs.frozen(kw_only=True)
class Run:
    """What one instance looked like at ``END``."""

    status: str
    output: Any
    error: Any
    waiting_on: Any
    history: list[HistoryItem]
    replay_ok: bool


@attrs.frozen(kw_only=True)
class Result:
    """What one run of a schedule left behind."""

    runs: dict[str, Run]
    answers: dict[int, Any]
    retried: frozenset[int]
    tried_at: dict[int, list[float]]
    appends: list[Append]
    """Appends committed by the last runtime (all of them in an uninterrupted run)."""
    died_at: float | None
    before_death: list[StoredRecord]


async def _snapshot(rt: Runtime) -> dict[str, Run]:
    runs = {}
    for instance_id in INSTANCES:
        inst = await rt.get(instance_id)
        runs[instance_id] = Run(
            status=inst.status,
            output=inst.output,
            error=inst.error,
            waiting_on=inst.waiting_on,
            history=await rt.history(instance_id),
            replay_ok=(await rt.replay(instance_id)).ok,
        )
    return runs


_DEATH_THROES = (Died, StoreError, JournalClosed, trio.Cancelled)


def _only_death_throes(exc: BaseException) -> bool:
    """What a dying runtime may raise on its way down: the death itself and its echoes."""
    if isinstance(exc, BaseExceptionGroup):
        return all(_only_death_throes(e) for e in exc.exceptions)
    return isinstance(exc, _DEATH_THROES)


async def run_schedule(
    path: str,
    program: dict[str, Any],
    actions: list[Action],
    *,
    die_after: int | None = None,
    die_at: Callable[[Append], bool] | None = None,
    at_once: bool = False,
    outage: float = 0.0,
    on_reopen: Callable[[Runtime], Awaitable[None]] | None = None,
) -> Result:
    """Run ``actions`` against ``program``; with ``die_after`` or ``die_at``, the store dies
    once (see ``DyingStore``) and after ``outage`` virtual seconds a fresh runtime reopens the file,
    calls ``on_reopen`` and carries on with the schedule."""
    reset_world(program)
    t0 = trio.current_time()

    def wall_time() -> float:
        return BASE + (trio.current_time() - t0)

    driver = Driver(program=program, actions=actions, t0=t0)
    died_at: float | None = None
    before_death: list[StoredRecord] = []
    reopened = False
    while True:
        with trio.CancelScope() as scope:

            def on_death(scope: trio.CancelScope = scope) -> None:
                nonlocal died_at
                WORLD.dead = True
                died_at = trio.current_time()
                scope.cancel()

            store = DyingStore(
                SqliteStore(path),
                die_after=None if reopened else die_after,
                die_at=None if reopened else die_at,
                at_once=at_once,
                on_death=on_death,
            )
            # The dying runtime may log on its way down (see no_crash_logged); no other may.
            checked = (
                no_crash_logged() if die_after is None or reopened else contextlib.nullcontext()
            )
            try:
                with checked:
                    async with Runtime.open(path, store=store, wall_time=wall_time) as rt:
                        if reopened and on_reopen is not None:
                            await on_reopen(rt)
                        await driver.run(rt)
                        runs = await _snapshot(rt)
            except BaseException as exc:
                if not store.dead or not _only_death_throes(exc):
                    raise
        if not store.dead:
            break
        assert trio.current_time() == died_at, "the crash itself took virtual time"
        before_death = check_death(path, store, INSTANCES)
        reopened = True
        await trio.sleep(outage)
    with SqliteStore(path) as left:
        assert not left.timers(), "a timer is still pending at END: END is too early"
    return Result(
        runs=runs,
        answers=driver.answers,
        retried=frozenset(driver.retried),
        tried_at=driver.tried_at,
        appends=store.committed,
        died_at=None if died_at is None else died_at - t0,
        before_death=before_death,
    )


# --- checking runs ------------------------------------------------------------------------


def _rel(item: HistoryItem) -> float:
    return round(item.at.timestamp() - BASE, 6)


def _without_draws(output: Any, seed: int) -> Any:
    """Check the per-step ``ctx.random()`` draws against the seed, then drop them."""
    if output is None:
        return None
    results = output["results"]
    assert [res["draw"] for res in results] == _draws(seed, len(results))
    return {**output, "results": [{k: v for k, v in res.items() if k != "draw"} for res in results]}


Journal = list[tuple[str, Any, float]]


def normalized(run: Run) -> tuple[Any, Journal]:
    """The outcome and the journal as ``(kind, data, time)``, without the seed each start
    draws (the output's draws are checked against it, then dropped)."""
    started = run.history[0]
    assert started.kind == "workflow_started"
    seed = started.data["seed"]
    journal: Journal = []
    for item in run.history:
        data = dict(item.data)
        if item.kind == "workflow_started":
            del data["seed"]
        elif item.kind == "workflow_completed":
            data["output"] = _without_draws(data["output"], seed)
        journal.append((item.kind, data, _rel(item)))
    outcome = (run.status, _without_draws(run.output, seed), run.error, run.waiting_on)
    return outcome, journal


def by_step(journal: Journal) -> dict[int | None, Journal]:
    """Each step's own history (None: the records of no step), in journal order."""
    steps: dict[int | None, Journal] = {}
    for kind, data, at in journal:
        steps.setdefault(data.get("step"), []).append((kind, data, at))
    return steps


def assert_same_run(got: Run, want: Run) -> None:
    """Exactly the same, times included; only the interleaving of simultaneous steps may differ."""
    got_outcome, got_journal = normalized(got)
    want_outcome, want_journal = normalized(want)
    assert got_outcome == want_outcome
    assert got.replay_ok and want.replay_ok
    assert [h.seq for h in got.history] == list(range(1, len(got.history) + 1))
    assert by_step(got_journal) == by_step(want_journal)
    assert got_journal[0] == want_journal[0]
    if want.status in ("completed", "failed", "cancelled"):
        assert got_journal[-1] == want_journal[-1]


def _matches(wait: tuple[str, str | None], ev: Event, instance_id: str) -> bool:
    if ev.type != wait[0]:
        return False
    if ev.instanceid is not None:
        return ev.instanceid == instance_id
    return wait[1] is None or ev.subject == wait[1]


def arrivals(result: Result, actions: Sequence[Action]) -> dict[str, float]:
    """When each published event was stored: when its publish went through, which is later
    than planned for one due while the process was down, and the first try for a retried
    publish that the retry found stored already (a duplicate). An event for an instance that
    had finished was refused ("finished"): it never arrived."""
    arrived = {}
    for i, action in enumerate(actions):
        if action.kind == "publish" and i in result.tried_at and result.answers[i] != "finished":
            assert action.event is not None
            tries = result.tried_at[i]
            stored_before = len(tries) > 1 and result.answers[i][0] is True
            arrived[action.event.id] = tries[0] if stored_before else tries[-1]
    return arrived


def check_delivery(
    instance_id: str, run: Run, actions: Sequence[Action], arrived_at: dict[str, float]
) -> list[str]:
    """Check one instance's journal against a model of event delivery; name what each
    resolved wait saw ("early", "late", "timeout", "never") for the statistics.

    An event is taken at most once, by a wait that matches it, at the moment both exist
    (the wait's start for one that arrived before, its arrival otherwise), oldest first;
    a wait times out or stays waiting only when no matching event is left untaken.
    """
    published: dict[str, tuple[float, Event]] = {}
    for action in actions:
        if action.kind == "publish":
            assert action.event is not None
            if action.event.id in arrived_at:
                published[action.event.id] = (arrived_at[action.event.id], action.event)
    waits: dict[int, tuple[str, str | None, float]] = {}
    taken: list[str] = []
    seen = []

    def untaken(wait: tuple[str, str | None], until: float) -> list[tuple[float, str]]:
        return sorted(
            (at, ev.id)
            for at, ev in published.values()
            if at <= until and ev.id not in taken and _matches(wait, ev, instance_id)
        )

    for item in run.history:
        at, data = _rel(item), item.data
        if item.kind == "wait_started":
            waits[data["step"]] = (data["type"], data["subject"], at)
        elif item.kind == "event_received":
            type_, subject, started_at = waits.pop(data["step"])
            ev_id = data["event"]["id"]
            assert ev_id not in taken, f"{instance_id} took {ev_id} twice"
            arrived, ev = published[ev_id]
            assert data["event"]["data"] == ev.data
            assert _matches((type_, subject), ev, instance_id)
            assert untaken((type_, subject), at)[:1] == [(arrived, ev_id)], "not the oldest"
            assert at == max(started_at, arrived), "not taken as soon as both existed"
            taken.append(ev_id)
            seen.append("early" if arrived < started_at else "late")
        elif item.kind == "timer_fired" and data["step"] in waits:
            type_, subject, _ = waits.pop(data["step"])
            assert not untaken((type_, subject), at), "timed out with a matching event left"
            seen.append("timeout")
    if run.status in ("running", "waiting"):
        for type_, subject, _ in waits.values():
            assert not untaken((type_, subject), END), "waits with a matching event left"
            seen.append("never")
    return seen


def check_cancels(result: Result, actions: Sequence[Action]) -> None:
    """A cancel that was answered "requested" is in the journal at its time, once."""
    for i, action in enumerate(actions):
        if action.kind != "cancel":
            continue
        assert action.instance is not None
        cancels = [
            _rel(h) for h in result.runs[action.instance].history if h.kind == "cancel_requested"
        ]
        if result.answers[i] == "requested":
            assert cancels == [action.at]
        elif i in result.retried:  # the first try may have taken effect before the crash
            assert cancels in ([], [action.at])
        else:
            assert result.answers[i] == "finished" and not cancels


def check_answers(result: Result, actions: Sequence[Action]) -> None:
    """A publish stores its event, or is refused because its instance finished, and then
    stores nothing: a redelivery of a stored event is a duplicate, of a refused one refused."""
    refused = {
        action.event.id
        for i, action in enumerate(actions)
        if action.kind == "publish" and action.event and result.answers.get(i) == "finished"
    }
    for i, action in enumerate(actions):
        assert action.kind not in ("publish", "redeliver") or action.event is not None
        if action.kind == "redeliver" and action.event and action.event.id in refused:
            assert result.answers[i] == "finished", "a refused event was stored"
        elif action.kind == "redeliver":
            assert result.answers[i] == (True, [], ()), "a redelivery was not a duplicate"
        elif action.kind == "publish" and i not in result.retried:
            answer = result.answers[i]
            assert answer == "finished" or answer[0] is False
            if answer == "finished":
                assert action.event and action.event.instanceid, "an untargeted event refused"


def check_result(result: Result, actions: Sequence[Action]) -> list[str]:
    seen = []
    arrived_at = arrivals(result, actions)
    for instance_id, run in result.runs.items():
        assert run.replay_ok
        assert run.status != "suspended", run.error
        seen += check_delivery(instance_id, run, actions, arrived_at)
    check_answers(result, actions)
    check_cancels(result, actions)
    return seen


def _finished_attempts(result: Result) -> set[tuple[str, str, int]]:
    return _attempts_of([(h.kind, h.data) for run in result.runs.values() for h in run.history])


def check_attempts(result: Result) -> None:
    """At least once, and never again once journaled."""
    journaled = _attempts_of([(s.kind, json.loads(s.data)) for s in result.before_death])
    for attempt in journaled:
        assert WORLD.before[attempt] == 1, attempt
        assert WORLD.after[attempt] == 0, f"{attempt} ran again after its result was journaled"
    finished = _finished_attempts(result)
    assert set(WORLD.before) | set(WORLD.after) == finished
    for attempt in finished:  # once before the death, at most once more after it
        assert 1 <= WORLD.before[attempt] + WORLD.after[attempt] <= 2, attempt


def assert_same_result(got: Result, want: Result) -> None:
    for instance_id in INSTANCES:
        assert_same_run(got.runs[instance_id], want.runs[instance_id])
    for i, answer in want.answers.items():
        if i not in got.retried:
            assert got.answers[i] == answer, i


async def reference_run(
    path: str, program: dict[str, Any], actions: list[Action]
) -> tuple[Result, list[str]]:
    """The uninterrupted run, and what its waits saw (see ``check_delivery``)."""
    result = await run_schedule(path, program, actions)
    assert not WORLD.after and all(n == 1 for n in WORLD.before.values())
    assert set(WORLD.before) == _finished_attempts(result)
    return result, check_result(result, actions)


async def crash_and_compare(
    path: str,
    program: dict[str, Any],
    actions: list[Action],
    reference: Result,
    die_after: int,
    at_once: bool,
    **options: Any,
) -> Result:
    result = await run_schedule(
        path, program, actions, die_after=die_after, at_once=at_once, **options
    )
    check_result(result, actions)
    check_attempts(result)
    assert_same_result(result, reference)
    return result


def _run_trio(fn: Callable[[], Awaitable[Any]]) -> Any:
    return trio.run(fn, clock=trio.testing.MockClock(autojump_threshold=0))


def crash_points(appends: Sequence[Append]) -> st.SearchStrategy[int]:
    """Any append, or often one around an event delivery, a cancel or a timer firing.

    ``die_after`` n with ``at_once`` dies right after committing append n; without, the
    append after n is refused: so n - 1 and n both matter.
    """
    anywhere = st.integers(1, len(appends))
    near = sorted(
        {
            n
            for i, append in enumerate(appends)
            if any(rec.kind in _NOTABLE for rec in append.records)
            for n in (i, i + 1)
            if n >= 1
        }
    )
    return st.one_of(anywhere, st.sampled_from(near)) if near else anywhere


_NOTABLE = frozenset({"event_received", "cancel_requested", "timer_fired"})


# --- the property ---------------------------------------------------------------------------


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(program=programs(), actions=schedules(), data=st.data())
def test_a_crash_anywhere_changes_nothing_under_the_same_schedule(
    program: dict[str, Any], actions: list[Action], data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        reference: Result
        reference, seen = _run_trio(
            functools.partial(reference_run, str(Path(tmp) / "ref.db"), program, actions)
        )
        for kind in seen:
            event(f"a wait: {kind}")
        for run in reference.runs.values():
            swallowed = isinstance(run.output, dict) and "cancelled" in run.output
            event(f"outcome: {run.status}" + (" (a cancel swallowed)" if swallowed else ""))
        crashes = st.tuples(crash_points(reference.appends), st.booleans())
        for n, (die_after, at_once) in enumerate(
            data.draw(st.lists(crashes, min_size=1, max_size=3, unique=True), label="crashes")
        ):
            path = str(Path(tmp) / f"crashed-{n}.db")
            result: Result = _run_trio(
                functools.partial(
                    crash_and_compare, path, program, actions, reference, die_after, at_once
                )
            )
            event("died" if result.died_at is not None else "finished before dying")
            for i in sorted(result.retried):
                event(f"performed again after the crash: {actions[i].kind}")
