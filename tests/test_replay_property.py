"""Replay determinism across crashes, as a Hypothesis property.

A random *program* (plain JSON data: steps that call an activity or gather a few calls) is
run by one generic workflow, ``prop_program``. Its one generic activity, ``prop_call``, looks
up what each attempt of a call does (wait, then fail or return) in the program, by the call id
it gets as argument. Each example runs the program as two concurrent instances, twice, on two
files: once without interruption, and once on a store that dies after its N-th committed
append, after which a fresh runtime recovers the file and finishes. Both runs must reach the
same outcomes through the same journals, and no attempt whose result was journaled before the
death may run again.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import logging
import random
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from runtime import (
    ActivityError,
    HistoryItem,
    RetryPolicy,
    Runtime,
    WorkflowContext,
    WorkflowFailed,
    activity,
    current_activity,
    workflow,
)
from runtime.store import (
    Append,
    DuplicateEvent,
    EventRow,
    SqliteStore,
    StoredRecord,
    StoreError,
    Write,
)

LONG = 1_000_000.0  # virtual seconds: with the autojumping clock, a hang shows as a timeout

Attempt = tuple[str, str, int]  # (instance id, call id, attempt number)

# Each property run is its own trio.run on an autojumping MockClock.
pytestmark = pytest.mark.usefixtures("inline_commits")


# --- the world the activity sees --------------------------------------------------------


class PropFlaky(Exception):
    """A failure worth retrying."""


class PropFatal(Exception):
    """A failure the retry policy gives up on at once."""


@attrs.define(eq=False)
class World:
    """The calls of the program being run, and every attempt the activity started."""

    calls: dict[str, dict[str, Any]] = attrs.Factory(dict)
    dead: bool = False
    before: collections.Counter[Attempt] = attrs.Factory(collections.Counter)
    """Attempts started before the store died (or in a run that never dies)."""
    after: collections.Counter[Attempt] = attrs.Factory(collections.Counter)
    """Attempts started after the store died, by the dying runtime or the recovering one."""

    def reset(self, program: dict[str, Any]) -> None:
        self.calls = {spec["id"]: spec for spec in _calls_of(program)}
        self.dead = False
        self.before.clear()
        self.after.clear()

    def ran(self, attempt: Attempt) -> None:
        (self.after if self.dead else self.before)[attempt] += 1


WORLD = World()


def _current_attempt() -> int:
    """The attempt number of the running ``prop_call``."""
    return current_activity().attempt


@activity(
    name="prop_call",
    retry=RetryPolicy(max_attempts=3, initial_interval=1, backoff=2, non_retryable=(PropFatal,)),
)
async def prop_call(instance_id: str, call_id: str) -> Any:
    attempt = _current_attempt()
    spec = WORLD.calls[call_id]
    WORLD.ran((instance_id, call_id, attempt))
    if spec["delay"]:
        await trio.sleep(spec["delay"])
    if attempt <= spec["fails"]:
        raise PropFlaky(f"{call_id} attempt {attempt} failed")
    if spec["fatal"]:
        raise PropFatal(f"{call_id} refused for good")
    return spec["result"]


def _call_of(ctx: WorkflowContext, spec: dict[str, Any]) -> Any:
    return ctx.run(prop_call, ctx.instance_id, spec["id"])


async def _in_sequence(ctx: WorkflowContext, first: dict[str, Any], second: dict[str, Any]) -> Any:
    return [await _call_of(ctx, first), await _call_of(ctx, second)]


def _item(ctx: WorkflowContext, item: dict[str, Any]) -> Any:
    if "call" in item:
        return _call_of(ctx, item["call"])
    return _in_sequence(ctx, *item["sequence"])


@workflow(name="prop_program")
async def prop_program(ctx: WorkflowContext, program: dict[str, Any]) -> dict[str, Any]:
    """Run ``program``; a step that catches records its ActivityError, one that does not fails us.

    After each step the workflow draws ``ctx.random()``, which replay must reproduce. A
    ``continue`` step continues as new with the steps after it, carrying the results so far
    (without their draws: the next run has a seed of its own).
    """
    results: list[Any] = list(program.get("carried", []))
    for index, step in enumerate(program["steps"]):
        if "continue" in step:
            carried = [{"value": result["value"]} for result in results]
            ctx.continue_as_new(
                {**program, "steps": program["steps"][index + 1 :], "carried": carried}
            )
        try:
            if "call" in step:
                value = await _call_of(ctx, step["call"])
            else:
                value = list(await ctx.gather(*[_item(ctx, item) for item in step["gather"]]))
        except ActivityError as exc:
            if not step["catch"]:
                raise
            value = {"error": exc.type, "message": exc.message, "attempts": exc.attempts}
        results.append({"value": value, "draw": ctx.random()})
    return {"results": results}


def _calls_of(program: dict[str, Any]) -> list[dict[str, Any]]:
    calls = []
    for step in program["steps"]:
        if "continue" in step:
            continue
        for item in step.get("gather", [step]):
            calls += item.get("sequence", [item.get("call")])
    return calls


# --- programs ---------------------------------------------------------------------------

_RESULTS = st.one_of(st.integers(-1000, 1000), st.text(alphabet="abcxyz", max_size=5))


@st.composite
def programs(draw: st.DrawFn) -> dict[str, Any]:
    """A program of 1 to 4 steps; a gather has 2 or 3 items, at most one a call sequence.

    At most one sequence per gather keeps step numbers independent of timing: a sequence
    takes its second step number when its first call finishes.
    """
    ids = itertools.count()

    def call() -> dict[str, Any]:
        return {
            "id": f"c{next(ids)}",
            "result": draw(_RESULTS),
            "fails": draw(st.sampled_from([0, 0, 0, 1, 1, 2, 3])),  # 3: retries exhausted
            "fatal": draw(st.sampled_from([False, False, False, False, True])),
            "delay": draw(st.sampled_from([0, 0, 0.5, 1, 3])),
        }

    steps: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(1, 4))):
        # Continue as new after a step (a run must await something before it continues).
        if steps and "continue" not in steps[-1] and draw(st.integers(0, 3)) == 0:
            steps.append({"continue": True})
        catch = draw(st.sampled_from([True, True, False]))
        if draw(st.booleans()):
            steps.append({"call": call(), "catch": catch})
            continue
        size = draw(st.integers(2, 3))
        sequence_at = draw(st.sampled_from([None, *range(size)]))
        items = [
            {"sequence": [call(), call()]} if i == sequence_at else {"call": call()}
            for i in range(size)
        ]
        steps.append({"gather": items, "catch": catch})
    return {"steps": steps}


# --- a store that dies --------------------------------------------------------------------


class Died(BaseException):
    """The simulated death of the process: nothing after it reaches the disk."""


@attrs.define(eq=False)
class DyingStore:
    """A ``SqliteStore`` whose process dies after its ``die_after``-th committed ``Append``.

    With ``at_once`` it dies right after committing that append, so the runtime never acts
    on it; otherwise at the next write of an append, after the runtime carried out what the
    appends so far decided (ran activities, set timers). ``die_at`` names the append instead
    of counting: the first one it is true of is the last committed (``at_once``) or the first
    refused. Counting suits a random crash point; naming suits a test about one instance's
    append, since Trio orders tasks that wake at the same moment at random, and with them
    the appends of different instances. Once dead, every write raises
    ``Died`` and commits nothing, the runtime's graceful shutdown included. Only appends are
    counted: other writes (the event purge the runtime issues when it opens) are not instance
    state, and when they come is a matter of scheduling. Everything but ``write`` and
    ``close`` goes to the wrapped store.
    """

    _inner: SqliteStore
    die_after: int | None = None
    at_once: bool = False
    die_at: Callable[[Append], bool] | None = None
    on_death: Callable[[], None] = lambda: None
    committed: list[Append] = attrs.Factory(list)
    refused_writes: int = 0
    dead: bool = False

    def write(self, writes: Sequence[Write]) -> list[StoreError | None]:
        if self.dead:
            self.refused_writes += 1
            raise Died
        count = len(self.committed)
        cut = len(writes)  # commit writes[:cut]
        dying = False
        for i, item in enumerate(writes):
            if not isinstance(item, Append):
                continue
            fatal = self.die_at(item) if self.die_at is not None else None
            if (not self.at_once and fatal) or count == self.die_after:
                cut, dying = i, True
                break
            count += 1
            if self.at_once and (fatal or count == self.die_after):
                cut, dying = i + 1, True
                break
        results = self._inner.write(writes[:cut]) if cut else []
        for item, error in zip(writes[:cut], results, strict=True):
            # Only a redelivered event may be refused (as a duplicate).
            assert error is None or (
                isinstance(item, EventRow) and isinstance(error, DuplicateEvent)
            ), error
        self.committed += [item for item in writes[:cut] if isinstance(item, Append)]
        if dying:
            self.dead = True
            self.on_death()
            if cut < len(writes):
                raise Died
        return results

    def close(self) -> None:
        self._inner.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def records(self, instance_id: str) -> list[StoredRecord]:
        return [
            rec
            for append in self.committed
            if append.instance_id == instance_id
            for rec in append.records
        ]


# --- running a program ----------------------------------------------------------------


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def no_crash_logged() -> Iterator[None]:
    """Fail if an actor crashed (the supervisor restarts it and only logs) or the runtime warned.

    Not applied to the dying runtime: tearing it down can race an actor woken by the last
    commit, which then submits its next attempt to the executor's closed nursery and logs a
    RuntimeError; the attempt is journaled and runs after recovery, so nothing is lost.
    """
    handler = _Collect()
    loggers = [logging.getLogger("actors"), logging.getLogger("trioflow")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    assert not handler.records, [
        (record.getMessage(), record.exc_info and record.exc_info[1]) for record in handler.records
    ]


@attrs.frozen(kw_only=True)
class Run:
    """What one instance of a program left behind."""

    status: str
    output: Any
    error: Any
    history: list[HistoryItem]
    replay_ok: bool


async def _settle(rt: Runtime, instance_id: str) -> None:
    with contextlib.suppress(WorkflowFailed):
        await rt.result(instance_id, timeout=LONG)


async def _start_all(rt: Runtime, program: dict[str, Any], instances: Sequence[str]) -> None:
    """Start (idempotently) and settle every instance."""
    for instance_id in instances:
        await rt.start(prop_program, program, instance_id=instance_id)
    for instance_id in instances:
        await _settle(rt, instance_id)


async def _finish(rt: Runtime, program: dict[str, Any], instances: Sequence[str]) -> list[Run]:
    await _start_all(rt, program, instances)
    runs = []
    for instance_id in instances:
        inst = await rt.get(instance_id)
        report = await rt.replay(instance_id)
        history = await rt.history(instance_id)
        runs.append(
            Run(
                status=inst.status,
                output=inst.output,
                error=inst.error,
                history=history,
                replay_ok=report.ok,
            )
        )
    return runs


async def run_uninterrupted(
    path: str, program: dict[str, Any], instances: Sequence[str]
) -> tuple[list[Run], int]:
    """Run ``program`` to its end; return what it left and how many appends it committed."""
    WORLD.reset(program)
    store = DyingStore(SqliteStore(path))
    with no_crash_logged():
        async with Runtime.open(path, store=store) as rt:
            runs = await _finish(rt, program, instances)
    assert set(WORLD.before.values()) == {1}, "an attempt ran twice without a crash"
    assert not WORLD.after
    assert set(WORLD.before) == set().union(*(_finished_attempts(run.history) for run in runs))
    return runs, len(store.committed)


async def run_until_death(
    path: str, program: dict[str, Any], instances: Sequence[str], die_after: int, at_once: bool
) -> DyingStore:
    """Run ``program`` on a store that dies after ``die_after`` appends; tear the runtime down."""
    WORLD.reset(program)
    with trio.CancelScope() as scope:

        def on_death() -> None:
            WORLD.dead = True
            scope.cancel()

        store = DyingStore(
            SqliteStore(path), die_after=die_after, at_once=at_once, on_death=on_death
        )
        try:
            async with Runtime.open(path, store=store) as rt:
                await _start_all(rt, program, instances)
        except* Died:
            pass
    assert len(store.committed) <= die_after
    return store


def check_death(path: str, store: DyingStore, instances: Sequence[str]) -> list[StoredRecord]:
    """The file holds exactly what the dying store committed; return those records."""
    left = []
    with SqliteStore(path) as fresh:
        for instance_id in instances:
            on_disk = fresh.read(instance_id)
            assert on_disk == store.records(instance_id)
            left += on_disk
            row = fresh.get(instance_id)
            appends = [a for a in store.committed if a.instance_id == instance_id]
            if not appends:
                assert row is None
                continue
            assert row is not None
            assert row.last_seq == len(on_disk)
            assert row.status == appends[-1].summary.status
    return left


# --- comparing runs --------------------------------------------------------------------


def _attempts_of(items: Sequence[tuple[str, dict[str, Any]]]) -> set[Attempt]:
    """(instance id, call id, attempt) of every attempt that the journal says finished."""
    calls: dict[int, tuple[str, str]] = {}
    finished: set[Attempt] = set()
    for kind, data in items:
        if kind == "activity_scheduled":
            instance_id, call_id = data["args"]
            calls[data["step"]] = (instance_id, call_id)
        elif kind in ("activity_completed", "activity_failed"):
            instance_id, call_id = calls[data["step"]]
            finished.add((instance_id, call_id, data["attempt"]))
    return finished


def _finished_attempts(history: Sequence[HistoryItem]) -> set[Attempt]:
    return _attempts_of([(h.kind, h.data) for h in history])


def _draws(seed: int, count: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.random() for _ in range(count)]


def _without_draws(output: Any, seed: int) -> Any:
    """Check the last run's per-step ``ctx.random()`` draws against its seed (results carried
    from earlier runs have none), then drop them."""
    if output is None:
        return None
    results = output["results"]
    drawn = [res["draw"] for res in results if "draw" in res]
    assert drawn == _draws(seed, len(drawn))
    return [res["value"] for res in results]


def normalized(run: Run) -> tuple[Any, list[tuple[str, Any]]]:
    """The outcome and the journal as ``(kind, data)``, without what may differ between runs.

    Record times differ, and with them the absolute ``fire_at`` of timers (kept as the delay
    from their record's time); each ``rt.start`` and each continue-as-new draws its own seed
    (kept out, after checking that the draws of the last run follow from the seed in its
    started record).
    """
    assert run.history[0].kind == "workflow_started"
    seed = [h for h in run.history if h.kind == "workflow_started"][-1].data["seed"]
    journal: list[tuple[str, Any]] = []
    for item in run.history:
        data = dict(item.data)
        if item.kind == "workflow_started":
            del data["seed"]
        elif item.kind == "timer_started":
            data["fire_at"] = round(data["fire_at"] - item.at.timestamp(), 3)
        elif item.kind == "workflow_completed":
            data["output"] = _without_draws(data["output"], seed)
        journal.append((item.kind, data))
    outcome = (run.status, _without_draws(run.output, seed), run.error)
    return outcome, journal


def by_step(journal: list[tuple[str, Any]]) -> dict[int | None, list[tuple[str, Any]]]:
    """The journal split into each step's own history (None: the records of no step)."""
    steps: dict[int | None, list[tuple[str, Any]]] = collections.defaultdict(list)
    for kind, data in journal:
        steps[data.get("step")].append((kind, data))
    return dict(steps)


def assert_same_run(program: dict[str, Any], got: Run, want: Run) -> None:
    got_outcome, got_journal = normalized(got)
    want_outcome, want_journal = normalized(want)
    assert got_outcome == want_outcome
    assert got.replay_ok and want.replay_ok
    assert [h.seq for h in got.history] == list(range(1, len(got.history) + 1))
    if all("call" in step or "continue" in step for step in program["steps"]):
        assert got_journal == want_journal
    else:
        # Calls gathered together finish in an order that depends on timing, which a crash
        # shifts; each step's own history and the first and last records may not change.
        assert by_step(got_journal) == by_step(want_journal)
        assert got_journal[0] == want_journal[0]
        assert got_journal[-1] == want_journal[-1]


def check_attempts(before_death: list[StoredRecord], finals: Sequence[Run]) -> None:
    """At least once, and never again once journaled."""
    journaled = _attempts_of([(s.kind, json.loads(s.data)) for s in before_death])
    for attempt in journaled:
        assert WORLD.before[attempt] == 1, attempt
        assert WORLD.after[attempt] == 0, f"{attempt} ran again after its result was journaled"
    finished = set().union(*(_finished_attempts(run.history) for run in finals))
    ran = set(WORLD.before) | set(WORLD.after)
    assert ran == finished, "every attempt started was one the journal scheduled and finished"
    for attempt in finished:  # once before the death, at most once more after it
        assert 1 <= WORLD.before[attempt] + WORLD.after[attempt] <= 2, attempt


async def crash_and_compare(
    path: str,
    program: dict[str, Any],
    instances: Sequence[str],
    die_after: int,
    at_once: bool,
    references: Sequence[Run],
    after_death: Callable[[SqliteStore], None] = lambda _: None,
) -> tuple[DyingStore, list[Run]]:
    """Run ``program`` until its store dies, recover it, and compare it with ``references``.

    ``after_death`` may inspect the file as the dead process left it. The recovering runtime
    starts each instance again, as a client that never heard back would: an instance whose
    start was committed is not started twice.
    """
    store = await run_until_death(path, program, instances, die_after, at_once)
    before_death = check_death(path, store, instances)
    with SqliteStore(path) as left:
        after_death(left)
    with no_crash_logged():
        async with Runtime.open(path) as rt:
            finals = await _finish(rt, program, instances)
    for final, reference in zip(finals, references, strict=True):
        assert_same_run(program, final, reference)
    check_attempts(before_death, finals)
    return store, finals


# --- the property ------------------------------------------------------------------------


def _run_trio(fn: Callable[[], Any]) -> Any:
    return trio.run(fn, clock=trio.testing.MockClock(autojump_threshold=0))


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(program=programs(), data=st.data())
def test_a_crash_anywhere_changes_neither_outcomes_nor_journals(
    program: dict[str, Any], data: st.DataObject
) -> None:
    instances = ("prop-a", "prop-b")  # two, so that commits group and shutdown has work left
    with tempfile.TemporaryDirectory() as tmp:

        async def main() -> None:
            path = str(Path(tmp) / "reference.db")
            references, appends = await run_uninterrupted(path, program, instances)
            # A few crash points per program: a run is cheap next to finding a good program.
            crashes = st.tuples(st.integers(1, appends), st.booleans())
            for n, (die_after, at_once) in enumerate(
                data.draw(st.lists(crashes, min_size=1, max_size=3, unique=True), label="crashes")
            ):
                store, _ = await crash_and_compare(
                    str(Path(tmp) / f"crashed-{n}.db"),
                    program,
                    instances,
                    die_after,
                    at_once,
                    references,
                )
                event("died" if store.dead else "finished before dying")
                runs = sum("continue" in step for step in program["steps"]) + 1
                event(f"{runs} run{'s' if runs > 1 else ''} per instance")
                event("writes refused after death" if store.refused_writes else "none refused")
                event("an attempt ran again" if WORLD.after & WORLD.before else "none ran again")

        _run_trio(main)


# --- pinned crash points ---------------------------------------------------------------

IID = "prop-pinned"


def _call(
    call_id: str, result: Any, *, fails: int = 0, fatal: bool = False, delay: float = 0
) -> dict[str, Any]:
    return {"id": call_id, "result": result, "fails": fails, "fatal": fatal, "delay": delay}


def _pinned(
    tmp_path: Path,
    program: dict[str, Any],
    die_after: int,
    at_once: bool,
    after_death: Callable[[SqliteStore], None] = lambda _: None,
) -> tuple[DyingStore, Run, Run]:
    """One instance, ``IID``, through ``crash_and_compare``: (store, final run, reference)."""

    async def main() -> tuple[DyingStore, Run, Run]:
        [reference], _ = await run_uninterrupted(str(tmp_path / "ref.db"), program, [IID])
        store, [final] = await crash_and_compare(
            str(tmp_path / "crashed.db"),
            program,
            [IID],
            die_after,
            at_once,
            [reference],
            after_death,
        )
        return store, final, reference

    result: tuple[DyingStore, Run, Run] = _run_trio(main)
    return result


def test_crash_right_after_the_start_record(tmp_path: Path) -> None:
    program = {"steps": [{"call": _call("c0", 7), "catch": False}]}
    store, final, _ = _pinned(tmp_path, program, die_after=1, at_once=True)
    assert [rec.kind for rec in store.records(IID)] == ["workflow_started", "activity_scheduled"]
    assert not WORLD.before and WORLD.after == {(IID, "c0", 1): 1}
    assert (final.status, final.output["results"][0]["value"]) == ("completed", 7)


def test_crash_between_a_gathers_activities_completing(tmp_path: Path) -> None:
    gather: list[dict[str, Any]] = [
        {"call": _call("c0", "a", delay=1)},
        {"call": _call("c1", "b", delay=2)},
        {"sequence": [_call("c2", 1, delay=0.5), _call("c3", 2, delay=5)]},
    ]
    program = {"steps": [{"gather": gather, "catch": False}]}
    # Appends: 1 start, 2 c2 done (c3 scheduled), 3 c0 done, 4 c1 done, 5 c3 done.
    store, final, reference = _pinned(tmp_path, program, die_after=3, at_once=False)
    assert [rec.kind for rec in store.records(IID)][-2:] == [
        "activity_scheduled",
        "activity_completed",
    ]
    assert WORLD.before == {(IID, c, 1): 1 for c in ("c0", "c1", "c2", "c3")}
    # c1 finished in the dying process but was not journaled: it runs again; c3 was cut short.
    assert WORLD.after == {(IID, "c1", 1): 1, (IID, "c3", 1): 1}
    assert final.output["results"][0]["value"] == ["a", "b", [1, 2]]
    assert normalized(final) == normalized(reference)


def test_crash_during_a_retry_backoff(tmp_path: Path) -> None:
    program = {"steps": [{"call": _call("c0", "ok", fails=2), "catch": False}]}
    # Appends: 1 start, 2 attempt 1 failed + retry timer, 3 timer fired + attempt 2, ...

    def in_backoff(left: SqliteStore) -> None:
        [timer] = left.timers()
        assert (timer.instance_id, timer.step) == (IID, 1)
        row = left.get(IID)
        assert row is not None and row.status == "waiting"
        [waiting] = json.loads(row.waiting_on or "null")
        assert (waiting["attempt"], waiting["retry_at"]) == (1, timer.fire_at)

    store, final, _ = _pinned(tmp_path, program, die_after=2, at_once=True, after_death=in_backoff)
    assert [rec.kind for rec in store.records(IID)][-2:] == ["activity_failed", "timer_started"]
    assert WORLD.before == {(IID, "c0", 1): 1}
    assert WORLD.after == {(IID, "c0", 2): 1, (IID, "c0", 3): 1}
    # A backoff that began before the death is still waited out after it.
    started = [h for h in final.history if h.kind == "timer_started"]
    fired = [h for h in final.history if h.kind == "timer_fired"]
    for timer_started, timer_fired in zip(started, fired, strict=True):
        assert timer_fired.at.timestamp() >= timer_started.data["fire_at"] - 1e-3
    assert (final.status, final.output["results"][0]["value"]) == ("completed", "ok")


def test_an_uncaught_failure_fails_the_instance_after_a_crash(tmp_path: Path) -> None:
    program = {
        "steps": [
            {"call": _call("c0", 1, fails=3), "catch": True},
            {"call": _call("c1", 2, fatal=True), "catch": False},
            {"call": _call("c2", 3), "catch": False},
        ]
    }
    # Appends: 1 start, 2-6 c0's three attempts and two backoffs, 7 c1 refused: failed.
    _, final, _ = _pinned(tmp_path, program, die_after=6, at_once=False)
    assert WORLD.after == {(IID, "c1", 1): 1}  # ran, died before its failure was journaled
    assert final.status == "failed"
    assert final.error["type"] == "ActivityError"
    assert "PropFatal: c1 refused for good" in final.error["message"]
    assert final.history[1].data["args"] == [IID, "c0"]
